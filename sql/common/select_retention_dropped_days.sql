SELECT day, events, dropped_at, run_id FROM retention_dropped_days ORDER BY day
