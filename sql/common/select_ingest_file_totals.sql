-- A file's ledger totals, read when it is finished to decide whether it was usable.
SELECT lines, loaded, duplicates, rejected FROM ingest_files WHERE file_id = :file_id
