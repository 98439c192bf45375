-- SPEC §3 statistics of one period for every website in its own time zone, in one statement
-- (PostgreSQL): each website's period is its local period, given in UTC. Listed websites'
-- windows come as arrays, every other website uses the default zone's window. One statement
-- reads each UTC day partition's rows once per consumer, where one statement per zone would
-- read the shared partitions once per zone. Otherwise the same as insert_period_stats.sql.
INSERT INTO {table} (
    website_id, {key_column}, total_pageviews, total_custom_events, unique_visitors, unique_sessions,
    top_pages, top_referrers, events_by_type, sessions_started, bounce_rate,
    avg_session_duration_seconds, computed_at
)
-- NOT MATERIALIZED: each consumer scans the partitions itself (as in insert_period_stats.sql).
-- An event counts when it falls in its website's own window: the listed website's
-- (starts and ends at its position in ids), else the default zone's. Rows inside the core (inside
-- every zone's window) skip the per-website lookup; the span bounds the partitions read.
WITH ev AS NOT MATERIALIZED (
    SELECT website_id, visitor_id, session_id, event_type, event_name, url_path, referrer
    FROM events
    WHERE occurred_at >= :span_start AND occurred_at < :span_end
      AND (occurred_at >= :core_start AND occurred_at < :core_end
           OR occurred_at >= coalesce((CAST(:starts AS timestamptz[]))[array_position(CAST(:ids AS text[]), website_id)], :default_start)
              AND occurred_at < coalesce((CAST(:ends AS timestamptz[]))[array_position(CAST(:ids AS text[]), website_id)], :default_end))
),
base AS (
    SELECT website_id,
           count(*) FILTER (WHERE event_type = 'pageview') AS pageviews,
           count(*) FILTER (WHERE event_type = 'custom') AS custom_events,
           count(DISTINCT visitor_id) AS visitors,
           count(DISTINCT session_id) AS sessions
    FROM ev GROUP BY website_id
),
pages AS (
    SELECT website_id, item, n,
           row_number() OVER (PARTITION BY website_id ORDER BY n DESC, item COLLATE "C") AS rk
    FROM (SELECT website_id, url_path AS item, count(*) AS n
          FROM ev WHERE event_type = 'pageview' GROUP BY website_id, url_path) p
),
top_pages AS (
    SELECT website_id, jsonb_agg(jsonb_build_object('item', item, 'count', n) ORDER BY rk) AS js
    FROM pages WHERE rk <= 10 GROUP BY website_id
),
refs AS (
    SELECT website_id, item, n,
           row_number() OVER (PARTITION BY website_id ORDER BY n DESC, item COLLATE "C") AS rk
    FROM (SELECT website_id, coalesce(referrer, 'direct') AS item, count(*) AS n
          FROM ev WHERE event_type = 'pageview' GROUP BY website_id, coalesce(referrer, 'direct')) r
),
top_refs AS (
    SELECT website_id, jsonb_agg(jsonb_build_object('item', item, 'count', n) ORDER BY rk) AS js
    FROM refs WHERE rk <= 10 GROUP BY website_id
),
types AS (
    SELECT website_id, jsonb_object_agg(k, n) AS js
    FROM (SELECT website_id, CASE WHEN event_type = 'pageview' THEN 'pageview' ELSE event_name END AS k,
                 count(*) AS n
          FROM ev GROUP BY 1, 2) t
    GROUP BY website_id
),
sess AS (
    SELECT website_id,
           count(*) AS started,
           avg(CASE WHEN is_bounce THEN 1.0 ELSE 0.0 END) AS bounce_rate,
           avg(extract(epoch FROM last_activity_at - started_at)) AS avg_duration
    FROM sessions
    WHERE started_at >= :span_start AND started_at < :span_end
      AND started_at >= coalesce((CAST(:starts AS timestamptz[]))[array_position(CAST(:ids AS text[]), website_id)], :default_start)
      AND started_at < coalesce((CAST(:ends AS timestamptz[]))[array_position(CAST(:ids AS text[]), website_id)], :default_end)
    GROUP BY website_id
)
SELECT b.website_id, CAST(:period AS date), b.pageviews, b.custom_events, b.visitors, b.sessions,
       coalesce(tp.js, '[]'::jsonb), coalesce(tr.js, '[]'::jsonb), coalesce(ty.js, '{}'::jsonb),
       coalesce(s.started, 0), coalesce(s.bounce_rate, 0.0), coalesce(s.avg_duration, 0.0), :computed_at
FROM base b
LEFT JOIN top_pages tp ON tp.website_id = b.website_id
LEFT JOIN top_refs tr ON tr.website_id = b.website_id
LEFT JOIN types ty ON ty.website_id = b.website_id
LEFT JOIN sess s ON s.website_id = b.website_id
