-- Pageviews and custom events per website and 15-minute UTC bucket in [start, end): the raw
-- side of the reconciliation check in websites' local days.
SELECT website_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*) FILTER (WHERE event_type = 'pageview') AS pageviews,
       count(*) FILTER (WHERE event_type = 'custom') AS custom_events
FROM events
WHERE occurred_at >= :start AND occurred_at < :end
GROUP BY 1, 2
