-- The reason a finished file was unusable (kept with the ledger row of the file).
INSERT INTO ingest_file_problems (file_id, problem) VALUES (:file_id, :problem)
ON CONFLICT (file_id) DO UPDATE SET problem = excluded.problem
