-- The numeric daily statistics of [first_day, last_day] that alert rules evaluate.
SELECT website_id, date, total_pageviews, total_custom_events, unique_visitors, unique_sessions,
       sessions_started, bounce_rate, avg_session_duration_seconds, events_by_type
FROM daily_stats
WHERE date >= :first_day AND date <= :last_day
ORDER BY website_id, date
