-- Rebuild every touched session from all its events (exact, and a late event re-opens or
-- extends its session). Ties in time are broken by event_id. A session whose last activity is
-- older than the close_before parameter is closed: ended_at = last activity, whole seconds of duration.
INSERT INTO sessions (
    session_id, website_id, visitor_id, started_at, last_activity_at, ended_at, duration_seconds,
    pageviews, events, entry_path, exit_path, referrer, is_bounce, updated_at
)
SELECT session_id, website_id, visitor_id, started_at, last_activity_at,
       CASE WHEN last_activity_at < :close_before THEN last_activity_at END,
       CASE WHEN last_activity_at < :close_before THEN
           ((CAST(strftime('%s', last_activity_at) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER)) * 1000000
            + CAST(substr(last_activity_at, 21, 6) AS INTEGER) - CAST(substr(started_at, 21, 6) AS INTEGER)) / 1000000
       END,
       pageviews, events, entry_path, exit_path, referrer, pageviews = 1, :updated_at
FROM (
    SELECT session_id,
           max(CASE WHEN rn = 1 THEN website_id END) AS website_id,
           max(CASE WHEN rn = 1 THEN visitor_id END) AS visitor_id,
           min(occurred_at) AS started_at,
           max(occurred_at) AS last_activity_at,
           sum(event_type = 'pageview') AS pageviews,
           count(*) AS events,
           max(CASE WHEN pv_first = 1 THEN url_path END) AS entry_path,
           max(CASE WHEN pv_last = 1 THEN url_path END) AS exit_path,
           max(CASE WHEN rn = 1 THEN referrer END) AS referrer
    FROM (
        SELECT e.session_id, e.website_id, e.visitor_id, e.event_type, e.url_path, e.referrer, e.occurred_at,
               row_number() OVER (PARTITION BY e.session_id ORDER BY e.occurred_at, e.event_id) AS rn,
               CASE WHEN e.event_type = 'pageview' THEN row_number() OVER (
                   PARTITION BY e.session_id, e.event_type ORDER BY e.occurred_at, e.event_id) END AS pv_first,
               CASE WHEN e.event_type = 'pageview' THEN row_number() OVER (
                   PARTITION BY e.session_id, e.event_type ORDER BY e.occurred_at DESC, e.event_id DESC) END AS pv_last
        FROM events e
        WHERE e.session_id IN (SELECT session_id FROM touched_sessions)
    ) AS ev
    GROUP BY session_id
) AS agg
WHERE true
ON CONFLICT (session_id) DO UPDATE SET
    website_id = excluded.website_id, visitor_id = excluded.visitor_id,
    started_at = excluded.started_at, last_activity_at = excluded.last_activity_at,
    ended_at = excluded.ended_at, duration_seconds = excluded.duration_seconds,
    pageviews = excluded.pageviews, events = excluded.events, entry_path = excluded.entry_path,
    exit_path = excluded.exit_path, referrer = excluded.referrer, is_bounce = excluded.is_bounce,
    updated_at = excluded.updated_at
