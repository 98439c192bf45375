-- daily_stats pageview and custom event counts of the days [start_day, end_day).
SELECT website_id, date, total_pageviews AS pageviews, total_custom_events AS custom_events
FROM daily_stats
WHERE date >= :start_day AND date < :end_day
