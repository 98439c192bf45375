-- A period's statistics are older than its events (late data): see stats_dirty in 002.
INSERT INTO stats_dirty (grain, period_start, events, marked_at)
VALUES (:grain, :period_start, :events, :marked_at)
ON CONFLICT (grain, period_start) DO UPDATE
SET events = stats_dirty.events + excluded.events, marked_at = excluded.marked_at
