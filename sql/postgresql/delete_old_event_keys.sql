-- The idempotency keys of one dropped day (event_keys_occurred_at_idx finds them).
DELETE FROM event_keys
WHERE occurred_at >= :start AND occurred_at < :end
