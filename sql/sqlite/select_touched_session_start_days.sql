-- Days on which touched sessions (as currently stored) started: their stats change too.
SELECT substr(s.started_at, 1, 10) AS day, count(*) AS events
FROM sessions s JOIN touched_sessions t ON t.session_id = s.session_id
GROUP BY 1
