-- Core tables: events (range-partitioned by UTC day), rejected lines, the ingestion ledger,
-- pipeline state, embedded cache.
CREATE TABLE IF NOT EXISTS events (
    event_id     text NOT NULL,
    website_id   text NOT NULL,
    session_id   text NOT NULL,
    visitor_id   text NOT NULL,
    event_type   text NOT NULL CHECK (event_type IN ('pageview', 'custom')),
    event_name   text,
    url_path     text,
    referrer     text,
    occurred_at  timestamptz NOT NULL,
    properties   jsonb,
    ingested_at  timestamptz NOT NULL,
    source_file  text NOT NULL,
    batch_id     bigint NOT NULL
) PARTITION BY RANGE (occurred_at);
-- A day partition is scanned whole by the daily aggregation, so no time index is needed;
-- sessions are rebuilt by session_id, and the sessions watermark follows batch_id (BRIN: batch
-- ids grow with insertion order).
CREATE INDEX IF NOT EXISTS events_session_id_idx ON events (session_id);
CREATE INDEX IF NOT EXISTS events_batch_id_idx ON events USING brin (batch_id);

-- event_id must be unique across all days, which a partitioned table cannot enforce (its keys
-- must include occurred_at): this narrow table is the idempotency key.
CREATE TABLE IF NOT EXISTS event_keys (
    event_id    text PRIMARY KEY,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS event_keys_occurred_at_idx ON event_keys (occurred_at);

CREATE OR REPLACE FUNCTION analytics_ensure_event_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'events_p' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            name, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    END IF;
    RETURN name;
END $$;

CREATE TABLE IF NOT EXISTS rejected_events (
    id           bigserial PRIMARY KEY,
    source_file  text NOT NULL,
    line_number  integer NOT NULL,
    raw          text NOT NULL,
    reason       text NOT NULL,
    rejected_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_events_source_idx ON rejected_events (source_file, line_number);

CREATE TABLE IF NOT EXISTS ingest_files (
    file_id          bigserial PRIMARY KEY,
    content_sha256   text NOT NULL UNIQUE,
    path             text NOT NULL,
    size_bytes       bigint NOT NULL,
    status           text NOT NULL CHECK (status IN ('loading', 'done')),
    lines_committed  integer NOT NULL DEFAULT 0,
    lines            integer NOT NULL DEFAULT 0,
    loaded           integer NOT NULL DEFAULT 0,
    duplicates       integer NOT NULL DEFAULT 0,
    rejected         integer NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz
);

CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id     bigserial PRIMARY KEY,
    file_id      bigint NOT NULL,
    first_line   integer NOT NULL,
    last_line    integer NOT NULL,
    loaded       integer NOT NULL,
    committed_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS pipeline_state (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS cache_entries (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS cache_entries_expires_idx ON cache_entries (expires_at);
