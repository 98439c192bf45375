-- Pageviews and custom events per website and 15-minute UTC bucket in [start, end): the raw
-- side of the reconciliation check in websites' local days.
SELECT website_id, substr(occurred_at, 1, 14) || printf('%02d', CAST(substr(occurred_at, 15, 2) AS INTEGER) / 15 * 15) AS bucket,
       sum(event_type = 'pageview') AS pageviews, sum(event_type = 'custom') AS custom_events
FROM events
WHERE occurred_at >= :start AND occurred_at < :end
GROUP BY 1, 2
