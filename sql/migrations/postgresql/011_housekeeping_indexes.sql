-- Housekeeping finds old rejected lines and finished ledger rows by time.
CREATE INDEX IF NOT EXISTS rejected_events_rejected_at_idx ON rejected_events (rejected_at);
CREATE INDEX IF NOT EXISTS ingest_files_finished_at_idx ON ingest_files (finished_at);
