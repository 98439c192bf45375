-- Core tables: events, rejected lines, the ingestion ledger, pipeline state, embedded cache.
-- Timestamps are fixed-width UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' so text order is time order.
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    website_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    visitor_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL CHECK (event_type IN ('pageview', 'custom')),
    event_name   TEXT,
    url_path     TEXT,
    referrer     TEXT,
    occurred_at  TEXT NOT NULL,
    properties   TEXT,
    ingested_at  TEXT NOT NULL,
    source_file  TEXT NOT NULL,
    batch_id     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_occurred_at_idx ON events (occurred_at);
CREATE INDEX IF NOT EXISTS events_session_id_idx ON events (session_id);
CREATE INDEX IF NOT EXISTS events_batch_id_idx ON events (batch_id);

CREATE TABLE IF NOT EXISTS rejected_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_file  TEXT NOT NULL,
    line_number  INTEGER NOT NULL,
    raw          TEXT NOT NULL,
    reason       TEXT NOT NULL,
    rejected_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_events_source_idx ON rejected_events (source_file, line_number);

-- The ledger: a file is known by its content hash; lines_committed lets a crashed run resume.
CREATE TABLE IF NOT EXISTS ingest_files (
    file_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    content_sha256   TEXT NOT NULL UNIQUE,
    path             TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('loading', 'done')),
    lines_committed  INTEGER NOT NULL DEFAULT 0,
    lines            INTEGER NOT NULL DEFAULT 0,
    loaded           INTEGER NOT NULL DEFAULT 0,
    duplicates       INTEGER NOT NULL DEFAULT 0,
    rejected         INTEGER NOT NULL DEFAULT 0,
    started_at       TEXT NOT NULL,
    finished_at      TEXT
);

-- One row per committed chunk; events.batch_id is the watermark the sessions asset follows.
CREATE TABLE IF NOT EXISTS ingest_batches (
    batch_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id      INTEGER NOT NULL,
    first_line   INTEGER NOT NULL,
    last_line    INTEGER NOT NULL,
    loaded       INTEGER NOT NULL,
    committed_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS pipeline_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Embedded cache (ANALYTICS_REDIS_URL unset): same keys, values and expiry as Redis.
CREATE TABLE IF NOT EXISTS cache_entries (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX IF NOT EXISTS cache_entries_expires_idx ON cache_entries (expires_at);
