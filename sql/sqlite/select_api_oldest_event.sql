-- When the oldest stored event occurred (events_occurred_at_idx answers it).
SELECT min(occurred_at) AS oldest FROM events
