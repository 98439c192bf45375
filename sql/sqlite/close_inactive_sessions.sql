-- The seed's session cleanup: close sessions inactive since before the close_before parameter.
UPDATE sessions
SET ended_at = last_activity_at,
    duration_seconds = ((CAST(strftime('%s', last_activity_at) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER)) * 1000000
        + CAST(substr(last_activity_at, 21, 6) AS INTEGER) - CAST(substr(started_at, 21, 6) AS INTEGER)) / 1000000,
    updated_at = :updated_at
WHERE ended_at IS NULL AND last_activity_at < :close_before
