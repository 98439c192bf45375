SELECT (s.started_at AT TIME ZONE 'UTC')::date AS day, count(*) AS events
FROM sessions s JOIN touched_sessions t ON t.session_id = s.session_id
GROUP BY 1
