INSERT INTO ingest_files (content_sha256, path, size_bytes, status, started_at)
VALUES (:sha256, :path, :size_bytes, 'loading', :started_at)
RETURNING file_id
