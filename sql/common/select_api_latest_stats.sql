-- The newest statistics: the last aggregated day and when statistics were last computed.
SELECT max(date) AS last_day, max(computed_at) AS computed_at FROM daily_stats
