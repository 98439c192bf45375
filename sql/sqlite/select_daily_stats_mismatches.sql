-- Website-days in [start_day, end_day) where daily_stats disagree with the events table on
-- pageview or custom event counts (or one side is missing).
WITH ev AS (
    SELECT website_id, substr(occurred_at, 1, 10) AS day,
           sum(event_type = 'pageview') AS pageviews, sum(event_type = 'custom') AS custom_events
    FROM events
    WHERE occurred_at >= :start AND occurred_at < :end
    GROUP BY 1, 2
),
st AS (
    SELECT website_id, date AS day, total_pageviews AS pageviews, total_custom_events AS custom_events
    FROM daily_stats WHERE date >= :start_day AND date < :end_day
)
SELECT ev.website_id, ev.day, ev.pageviews AS events_pageviews, st.pageviews AS stats_pageviews,
       ev.custom_events AS events_custom, st.custom_events AS stats_custom
FROM ev LEFT JOIN st ON st.website_id = ev.website_id AND st.day = ev.day
WHERE st.pageviews IS NULL OR st.pageviews <> ev.pageviews OR st.custom_events <> ev.custom_events
UNION ALL
SELECT st.website_id, st.day, 0, st.pageviews, 0, st.custom_events
FROM st LEFT JOIN ev ON ev.website_id = st.website_id AND ev.day = st.day
WHERE ev.website_id IS NULL
