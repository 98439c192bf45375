DELETE FROM cache_entries WHERE key = :key
