-- One batch of rejected lines older than the rejected-lines retention.
DELETE FROM rejected_events
WHERE id IN (SELECT id FROM rejected_events WHERE rejected_at < :before ORDER BY id LIMIT :batch_size)
