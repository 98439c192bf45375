-- Daily statistics rows of every website for the days in [from_day, to_day).
SELECT website_id, date, total_pageviews, total_custom_events, unique_visitors, unique_sessions,
       sessions_started, bounce_rate, avg_session_duration_seconds, events_by_type
FROM daily_stats
WHERE date >= :from_day AND date < :to_day
ORDER BY date, website_id
