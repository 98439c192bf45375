SELECT session_id, website_id, started_at, last_activity_at, ended_at, duration_seconds, pageviews,
       events, entry_path, exit_path, referrer, is_bounce
FROM sessions
ORDER BY last_activity_at DESC
LIMIT 10
