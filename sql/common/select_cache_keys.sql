SELECT key FROM cache_entries WHERE expires_at IS NULL OR expires_at > :now
