-- One batch of sessions whose last activity is before :before (sessions_last_activity_idx).
DELETE FROM sessions
WHERE session_id IN (
    SELECT session_id FROM sessions
    WHERE last_activity_at < :before
    LIMIT :batch_size
)
