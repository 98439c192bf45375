SELECT grain, period_start, events, marked_at, reason, not_before FROM stats_dirty ORDER BY grain, period_start
