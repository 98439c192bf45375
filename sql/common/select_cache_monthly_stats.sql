-- Monthly statistics rows of every website for the months starting in [from_month, to_month).
SELECT website_id, period_start, total_pageviews, total_custom_events, unique_visitors,
       unique_sessions, sessions_started
FROM monthly_stats
WHERE period_start >= :from_month AND period_start < :to_month
ORDER BY period_start, website_id
