UPDATE ingest_files SET status = 'done', finished_at = :finished_at WHERE file_id = :file_id
