-- Finished ledger rows (content hashes) older than the ledger retention. Rows still loading
-- are never deleted: a crashed run resumes from them.
DELETE FROM ingest_files WHERE status = 'done' AND finished_at < :before
