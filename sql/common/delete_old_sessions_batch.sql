-- One batch of sessions last active before the given time (sessions_last_activity_idx).
DELETE FROM sessions
WHERE session_id IN (
    SELECT session_id FROM sessions
    WHERE last_activity_at < :before
    LIMIT :batch_size
)
