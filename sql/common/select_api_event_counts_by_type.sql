-- Events per type ('pageview', or the custom event's name, as daily_stats.events_by_type) with
-- from <= occurred_at < to, for the websites in the filter (see select_api_daily_stats).
SELECT CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END AS event_type,
       count(*) AS count
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
GROUP BY CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END
