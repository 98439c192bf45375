SELECT value FROM pipeline_state WHERE key = :key
