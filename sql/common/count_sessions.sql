SELECT count(*) AS sessions,
       sum(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) AS open_sessions
FROM sessions
