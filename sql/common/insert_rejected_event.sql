INSERT INTO rejected_events (source_file, line_number, raw, reason, rejected_at)
VALUES (:source_file, :line_number, :raw, :reason, :rejected_at)
