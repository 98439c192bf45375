-- Hourly statistics of every UTC hour in [start, end) for every website with events in it
-- (the session time zone is UTC, so date_trunc cuts UTC hours).
INSERT INTO hourly_stats (website_id, hour_start, total_pageviews, total_custom_events,
                          unique_visitors, unique_sessions, computed_at)
SELECT website_id,
       date_trunc('hour', occurred_at),
       count(*) FILTER (WHERE event_type = 'pageview'),
       count(*) FILTER (WHERE event_type = 'custom'),
       count(DISTINCT visitor_id),
       count(DISTINCT session_id),
       :computed_at
FROM events
WHERE occurred_at >= :start AND occurred_at < :end
GROUP BY website_id, date_trunc('hour', occurred_at)
