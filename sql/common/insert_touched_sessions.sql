-- Sessions that received events in the batches since the watermark.
INSERT INTO touched_sessions (session_id)
SELECT DISTINCT session_id FROM events WHERE batch_id > :after_batch AND batch_id <= :upto_batch
