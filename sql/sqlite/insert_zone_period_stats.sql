-- SPEC §3 statistics of one period for the websites of one time zone: [start, end) is the
-- zone's local period in UTC; every_website / include / exclude pick its websites (every
-- website not listed under another zone, or exactly the listed ones). Run once per zone.
-- Otherwise the same statement as insert_period_stats.sql.
INSERT INTO {table} (
    website_id, {key_column}, total_pageviews, total_custom_events, unique_visitors, unique_sessions,
    top_pages, top_referrers, events_by_type, sessions_started, bounce_rate,
    avg_session_duration_seconds, computed_at
)
WITH ev AS (
    SELECT website_id, visitor_id, session_id, event_type, event_name, url_path, referrer
    FROM events
    WHERE occurred_at >= :start AND occurred_at < :end
      AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
),
base AS (
    SELECT website_id,
           sum(event_type = 'pageview') AS pageviews,
           sum(event_type = 'custom') AS custom_events,
           count(DISTINCT visitor_id) AS visitors,
           count(DISTINCT session_id) AS sessions
    FROM ev GROUP BY website_id
),
pages AS (
    SELECT website_id, item, n,
           row_number() OVER (PARTITION BY website_id ORDER BY n DESC, item) AS rk
    FROM (SELECT website_id, url_path AS item, count(*) AS n
          FROM ev WHERE event_type = 'pageview' GROUP BY website_id, url_path)
),
top_pages AS (
    SELECT website_id, json_group_array(json_object('item', item, 'count', n)) AS js
    FROM (SELECT * FROM pages WHERE rk <= 10 ORDER BY website_id, rk)
    GROUP BY website_id
),
refs AS (
    SELECT website_id, item, n,
           row_number() OVER (PARTITION BY website_id ORDER BY n DESC, item) AS rk
    FROM (SELECT website_id, coalesce(referrer, 'direct') AS item, count(*) AS n
          FROM ev WHERE event_type = 'pageview' GROUP BY website_id, coalesce(referrer, 'direct'))
),
top_refs AS (
    SELECT website_id, json_group_array(json_object('item', item, 'count', n)) AS js
    FROM (SELECT * FROM refs WHERE rk <= 10 ORDER BY website_id, rk)
    GROUP BY website_id
),
types AS (
    SELECT website_id, json_group_object(k, n) AS js
    FROM (SELECT website_id, CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END AS k,
                 count(*) AS n
          FROM ev GROUP BY 1, 2 ORDER BY 1, 2)
    GROUP BY website_id
),
sess AS (
    SELECT website_id,
           count(*) AS started,
           avg(is_bounce) AS bounce_rate,
           -- Sum exact microseconds and divide once, as PostgreSQL's numeric avg does, so both
           -- backends give the same float to the last bit.
           sum((CAST(strftime('%s', last_activity_at) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER)) * 1000000
               + CAST(substr(last_activity_at, 21, 6) AS INTEGER) - CAST(substr(started_at, 21, 6) AS INTEGER))
               / (count(*) * 1000000.0) AS avg_duration
    FROM sessions
    WHERE started_at >= :start AND started_at < :end
      AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
    GROUP BY website_id
)
SELECT b.website_id, :period, b.pageviews, b.custom_events, b.visitors, b.sessions,
       coalesce(tp.js, '[]'), coalesce(tr.js, '[]'), coalesce(ty.js, '{}'),
       coalesce(s.started, 0), coalesce(s.bounce_rate, 0.0), coalesce(s.avg_duration, 0.0), :computed_at
FROM base b
LEFT JOIN top_pages tp ON tp.website_id = b.website_id
LEFT JOIN top_refs tr ON tr.website_id = b.website_id
LEFT JOIN types ty ON ty.website_id = b.website_id
LEFT JOIN sess s ON s.website_id = b.website_id
