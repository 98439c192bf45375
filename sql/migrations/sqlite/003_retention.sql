-- Retention: the record of every raw day whose events were deleted (statistics for those days
-- must never be rebuilt from what is left), and an index to find old sessions.
CREATE TABLE IF NOT EXISTS retention_dropped_days (
    day         TEXT PRIMARY KEY,
    events      INTEGER NOT NULL,
    dropped_at  TEXT NOT NULL,
    run_id      TEXT
);
CREATE INDEX IF NOT EXISTS sessions_last_activity_idx ON sessions (last_activity_at);
