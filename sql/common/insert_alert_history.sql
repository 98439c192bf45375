INSERT INTO alert_history (
    alert_key, kind, rule, website, day, value, threshold, severity, message, sent_to, status,
    error, run_id, sent_at
) VALUES (
    :alert_key, :kind, :rule, :website, :day, :value, :threshold, :severity, :message, :sent_to,
    :status, :error, :run_id, :sent_at
)
