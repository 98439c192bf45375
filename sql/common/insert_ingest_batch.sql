INSERT INTO ingest_batches (file_id, first_line, last_line, loaded, committed_at)
VALUES (:file_id, :first_line, :last_line, 0, :committed_at)
RETURNING batch_id
