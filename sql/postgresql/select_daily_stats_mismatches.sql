-- Website-days in [start_day, end_day) where daily_stats disagree with the events table on
-- pageview or custom event counts (or one side is missing).
WITH ev AS (
    SELECT website_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
           count(*) FILTER (WHERE event_type = 'pageview') AS pageviews,
           count(*) FILTER (WHERE event_type = 'custom') AS custom_events
    FROM events
    WHERE occurred_at >= :start AND occurred_at < :end
    GROUP BY 1, 2
),
st AS (
    SELECT website_id, date AS day, total_pageviews AS pageviews, total_custom_events AS custom_events
    FROM daily_stats WHERE date >= CAST(:start_day AS date) AND date < CAST(:end_day AS date)
)
SELECT coalesce(ev.website_id, st.website_id) AS website_id, coalesce(ev.day, st.day) AS day,
       coalesce(ev.pageviews, 0) AS events_pageviews, st.pageviews AS stats_pageviews,
       coalesce(ev.custom_events, 0) AS events_custom, st.custom_events AS stats_custom
FROM ev FULL OUTER JOIN st ON st.website_id = ev.website_id AND st.day = ev.day
WHERE st.pageviews IS DISTINCT FROM ev.pageviews OR st.custom_events IS DISTINCT FROM ev.custom_events
