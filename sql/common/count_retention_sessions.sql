SELECT count(*) AS sessions FROM sessions WHERE last_activity_at < :before
