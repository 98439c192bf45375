-- Per-connection staging table for a chunk whose event ids may already be stored (the slow
-- path of the load); emptied at every commit. Same columns as events.
CREATE TEMP TABLE IF NOT EXISTS event_stage (
    event_id     text NOT NULL,
    website_id   text NOT NULL,
    session_id   text NOT NULL,
    visitor_id   text NOT NULL,
    event_type   text NOT NULL,
    event_name   text,
    url_path     text,
    referrer     text,
    occurred_at  timestamptz NOT NULL,
    properties   jsonb,
    ingested_at  timestamptz NOT NULL,
    source_file  text NOT NULL,
    batch_id     bigint NOT NULL
) ON COMMIT DELETE ROWS
