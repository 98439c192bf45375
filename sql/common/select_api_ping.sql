-- The health check: the warehouse answers and its schema is there.
SELECT count(*) AS n FROM (SELECT 1 FROM daily_stats LIMIT 1) AS probe
