-- Chunk rows of finished ledger rows older than the ledger retention. The newest chunk row
-- always stays: the sessions watermark is the highest batch id.
DELETE FROM ingest_batches
WHERE file_id IN (SELECT file_id FROM ingest_files WHERE status = 'done' AND finished_at < :before)
  AND batch_id < (SELECT max(batch_id) FROM ingest_batches)
