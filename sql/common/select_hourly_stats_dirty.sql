-- Hours whose hourly statistics are older than their events.
SELECT hour_start, events, marked_at FROM hourly_stats_dirty ORDER BY hour_start
