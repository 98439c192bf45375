-- Periods whose statistics are older than their events (see stats_dirty).
SELECT grain, period_start
FROM stats_dirty
WHERE period_start < :cutoff
