-- Start instants of touched sessions (as currently stored) per website and 15-minute bucket:
-- their local start days' statistics change too (websites file in use).
SELECT s.website_id, date_bin('15 minutes', s.started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*) AS events
FROM sessions s JOIN touched_sessions t ON t.session_id = s.session_id
GROUP BY 1, 2
