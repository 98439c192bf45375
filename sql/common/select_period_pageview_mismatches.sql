-- Websites whose {table} pageviews for the period differ from the sum of their daily_stats
-- over the period's days.
SELECT p.website_id, p.total_pageviews AS period_pageviews, coalesce(d.pageviews, 0) AS daily_sum,
       coalesce(d.days, 0) AS days_with_stats
FROM {table} p
LEFT JOIN (
    SELECT website_id, sum(total_pageviews) AS pageviews, count(*) AS days
    FROM daily_stats
    WHERE date >= :start_day AND date < :end_day
    GROUP BY website_id
) d ON d.website_id = p.website_id
WHERE p.period_start = :period AND p.total_pageviews <> coalesce(d.pageviews, 0)
