-- Stored hourly statistics of [start, end), by hour and website.
SELECT website_id, hour_start, total_pageviews, total_custom_events, unique_visitors, unique_sessions
FROM hourly_stats
WHERE hour_start >= :start AND hour_start < :end
ORDER BY hour_start, website_id
