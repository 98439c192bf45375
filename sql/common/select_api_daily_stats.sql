-- Daily statistics rows of the websites in the filter for the (local) days in [from_day, to_day).
-- The website filter: include_all = 1 takes every website not in the exclude list, else only
-- the websites in the include list (both bound as expanding lists).
SELECT website_id, date, total_pageviews, total_custom_events, unique_visitors, unique_sessions,
       sessions_started, bounce_rate, avg_session_duration_seconds, events_by_type, top_pages,
       top_referrers
FROM daily_stats
WHERE date >= :from_day AND date < :to_day
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
ORDER BY date, website_id
