-- One batch of alert history rows older than the alert-history retention.
DELETE FROM alert_history
WHERE id IN (SELECT id FROM alert_history WHERE sent_at < :before ORDER BY id LIMIT :batch_size)
