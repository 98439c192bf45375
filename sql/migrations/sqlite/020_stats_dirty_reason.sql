-- Per-website time zones: a period built before some website's local period had ended is
-- marked dirty with the reason and the UTC instant after which it can be completed; the
-- late-data sensor rebuilds it then. Existing marks (late data) have both null.
ALTER TABLE stats_dirty ADD COLUMN reason TEXT;
ALTER TABLE stats_dirty ADD COLUMN not_before TEXT;
