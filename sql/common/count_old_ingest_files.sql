-- Finished ledger rows older than the ledger retention, and their chunk rows.
SELECT count(*) AS files,
       (SELECT count(*) FROM ingest_batches b
        WHERE b.file_id IN (SELECT file_id FROM ingest_files WHERE status = 'done' AND finished_at < :before)
          AND b.batch_id < (SELECT max(batch_id) FROM ingest_batches)) AS batches
FROM ingest_files
WHERE status = 'done' AND finished_at < :before
