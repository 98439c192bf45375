-- Every notification the alerting sent (or tried to): one row per alert per channel target.
-- Cooldown looks up the last successful row of the same alert_key and target.
CREATE TABLE IF NOT EXISTS alert_history (
    id          bigserial PRIMARY KEY,
    alert_key   text NOT NULL,           -- rule + website (metric), check name, or run id
    kind        text NOT NULL,           -- metric, job_failure, freshness, warehouse_size, config
    rule        text NOT NULL,
    website     text,                    -- null when the alert is not about one website
    day         date,                    -- the statistics day the alert is about
    value       double precision,
    threshold   double precision,
    severity    text NOT NULL,
    message     text NOT NULL,
    sent_to     text NOT NULL,           -- one channel target, e.g. 'email:ops@example.com'
    status      text NOT NULL CHECK (status IN ('sent', 'failed', 'unrouted')),
    error       text,
    run_id      text,
    sent_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_cooldown_idx ON alert_history (alert_key, sent_to, sent_at);
CREATE INDEX IF NOT EXISTS alert_history_sent_at_idx ON alert_history (sent_at);
