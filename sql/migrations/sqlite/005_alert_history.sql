-- Every notification the alerting sent (or tried to): one row per alert per channel target.
-- Cooldown looks up the last successful row of the same alert_key and target.
CREATE TABLE IF NOT EXISTS alert_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_key   TEXT NOT NULL,           -- rule + website (metric), check name, or run id
    kind        TEXT NOT NULL,           -- metric, job_failure, freshness, warehouse_size, config
    rule        TEXT NOT NULL,
    website     TEXT,                    -- null when the alert is not about one website
    day         TEXT,                    -- the statistics day the alert is about
    value       REAL,
    threshold   REAL,
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    sent_to     TEXT NOT NULL,           -- one channel target, e.g. 'email:ops@example.com'
    status      TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'unrouted')),
    error       TEXT,
    run_id      TEXT,
    sent_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_cooldown_idx ON alert_history (alert_key, sent_to, sent_at);
CREATE INDEX IF NOT EXISTS alert_history_sent_at_idx ON alert_history (sent_at);
