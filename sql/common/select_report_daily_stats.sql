-- Daily statistics rows of every website for the report days from start (inclusive) to end (exclusive).
SELECT website_id, date AS period_start, total_pageviews, total_custom_events, unique_visitors,
       unique_sessions, top_pages, top_referrers, events_by_type, sessions_started, bounce_rate,
       avg_session_duration_seconds, computed_at
FROM daily_stats
WHERE date >= :start AND date < :end
ORDER BY date, website_id
