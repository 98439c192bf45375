-- Weekly or monthly statistics rows of periods starting before the cutoff ({table} is
-- weekly_stats or monthly_stats).
SELECT website_id, period_start, computed_at
FROM {table}
WHERE period_start < :cutoff
