-- A period's statistics are older than its events (late data), or were built before some
-- website's local period had ended (reason and not_before say why and until when): see
-- stats_dirty in 002 and 020. A pending not_before keeps the later of the two instants.
INSERT INTO stats_dirty (grain, period_start, events, marked_at, reason, not_before)
VALUES (:grain, :period_start, :events, :marked_at, :reason, :not_before)
ON CONFLICT (grain, period_start) DO UPDATE
SET events = stats_dirty.events + excluded.events, marked_at = excluded.marked_at,
    reason = coalesce(excluded.reason, stats_dirty.reason),
    not_before = CASE WHEN stats_dirty.not_before IS NULL THEN excluded.not_before
                      WHEN excluded.not_before IS NULL OR excluded.not_before < stats_dirty.not_before
                      THEN stats_dirty.not_before
                      ELSE excluded.not_before END
