-- Start instants of touched sessions (as currently stored) per website and 15-minute bucket:
-- their local start days' statistics change too (websites file in use).
SELECT s.website_id, substr(s.started_at, 1, 14) || printf('%02d', CAST(substr(s.started_at, 15, 2) AS INTEGER) / 15 * 15) AS bucket,
       count(*) AS events
FROM sessions s JOIN touched_sessions t ON t.session_id = s.session_id
GROUP BY 1, 2
