-- Alert history rows older than the alert-history retention.
SELECT count(*) AS n FROM alert_history WHERE sent_at < :before
