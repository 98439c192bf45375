-- Unusable-file reasons of finished ledger rows older than the ledger retention.
DELETE FROM ingest_file_problems
WHERE file_id IN (SELECT file_id FROM ingest_files WHERE status = 'done' AND finished_at < :before)
