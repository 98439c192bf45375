-- Websites the warmed cache writes per-website entries for: every website with daily
-- statistics since since_day or monthly statistics since since_month.
SELECT website_id FROM daily_stats WHERE date >= :since_day
UNION
SELECT website_id FROM monthly_stats WHERE period_start >= :since_month
ORDER BY website_id
