-- Per-connection staging table the COPY stream lands in; emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS event_stage (
    line_number  integer NOT NULL,
    event_id     text NOT NULL,
    website_id   text NOT NULL,
    session_id   text NOT NULL,
    visitor_id   text NOT NULL,
    event_type   text NOT NULL,
    event_name   text,
    url_path     text,
    referrer     text,
    occurred_at  timestamptz NOT NULL,
    properties   jsonb
) ON COMMIT DELETE ROWS
