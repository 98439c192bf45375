SELECT file_id, status, lines_committed, lines, loaded, duplicates, rejected, path
FROM ingest_files
WHERE content_sha256 = :sha256
