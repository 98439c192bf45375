-- Committed in the same transaction as the chunk's rows: a crash after it resumes after last_line.
UPDATE ingest_files
SET lines_committed = :last_line,
    lines = lines + :lines,
    loaded = loaded + :loaded,
    duplicates = duplicates + :duplicates,
    rejected = rejected + :rejected
WHERE file_id = :file_id
