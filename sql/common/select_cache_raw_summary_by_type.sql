-- The seed's third summary query on raw events: events per type ('pageview', or the custom
-- event's name, as daily_stats.events_by_type) with from <= occurred_at < to.
SELECT CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END AS event_type,
       count(*) AS count
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
GROUP BY CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END
ORDER BY count DESC
