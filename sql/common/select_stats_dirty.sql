SELECT grain, period_start, events, marked_at FROM stats_dirty ORDER BY grain, period_start
