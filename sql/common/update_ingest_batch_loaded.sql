UPDATE ingest_batches SET loaded = :loaded WHERE batch_id = :batch_id
