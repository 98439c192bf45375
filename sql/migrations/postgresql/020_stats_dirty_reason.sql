-- Per-website time zones: a period built before some website's local period had ended is
-- marked dirty with the reason and the UTC instant after which it can be completed; the
-- late-data sensor rebuilds it then. Existing marks (late data) have both null.
ALTER TABLE stats_dirty ADD COLUMN IF NOT EXISTS reason text;
ALTER TABLE stats_dirty ADD COLUMN IF NOT EXISTS not_before timestamptz;
-- A local day spans two UTC day partitions; statistics run once per zone read only the part
-- of each partition inside the zone's window instead of both partitions whole.
CREATE INDEX IF NOT EXISTS events_occurred_at_brin ON events USING brin (occurred_at);
