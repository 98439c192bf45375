SELECT id, alert_key, kind, rule, website, day, value, threshold, severity, message, sent_to,
       status, error, run_id, sent_at
FROM alert_history
ORDER BY id DESC
LIMIT :limit
