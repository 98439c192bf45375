-- The seed's session cleanup: close sessions inactive since before the close_before parameter.
UPDATE sessions
SET ended_at = last_activity_at,
    duration_seconds = floor(extract(epoch FROM last_activity_at - started_at))::integer,
    updated_at = :updated_at
WHERE ended_at IS NULL AND last_activity_at < :close_before
