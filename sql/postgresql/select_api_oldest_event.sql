-- When the oldest stored event occurred (event_keys_occurred_at_idx answers it; retention
-- removes the keys of the days it drops).
SELECT min(occurred_at) AS oldest FROM event_keys
