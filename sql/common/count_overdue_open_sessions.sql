-- Open sessions whose last activity is older than the timeout: should be none after cleanup.
SELECT count(*) FROM sessions WHERE ended_at IS NULL AND last_activity_at < :close_before
