-- Pageviews plus custom events stored in hourly_stats for the hours in [start, end).
SELECT coalesce(sum(total_pageviews + total_custom_events), 0) AS events
FROM hourly_stats WHERE hour_start >= :start AND hour_start < :end
