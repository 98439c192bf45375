SELECT value FROM cache_entries WHERE key = :key AND (expires_at IS NULL OR expires_at > :now)
