SELECT coalesce(max(batch_id), 0) AS batch_id FROM ingest_batches
