-- An hour's statistics are older than its events (late data); see hourly_stats_dirty in 030.
INSERT INTO hourly_stats_dirty (hour_start, events, marked_at)
VALUES (:hour_start, :events, :marked_at)
ON CONFLICT (hour_start) DO UPDATE
SET events = hourly_stats_dirty.events + excluded.events, marked_at = excluded.marked_at
