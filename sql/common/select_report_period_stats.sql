-- Weekly or monthly statistics rows ({table}) of every website for periods starting from start (inclusive) to end (exclusive).
SELECT website_id, period_start, total_pageviews, total_custom_events, unique_visitors,
       unique_sessions, top_pages, top_referrers, events_by_type, sessions_started, bounce_rate,
       avg_session_duration_seconds, computed_at
FROM {table}
WHERE period_start >= :start AND period_start < :end
ORDER BY period_start, website_id
