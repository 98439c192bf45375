SELECT min(occurred_at) AS oldest FROM events
