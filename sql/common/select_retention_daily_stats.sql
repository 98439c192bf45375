-- The daily statistics of the days before the cutoff: how many events each row counts.
SELECT website_id, date AS day, total_pageviews + total_custom_events AS events, computed_at
FROM daily_stats
WHERE date < :cutoff
