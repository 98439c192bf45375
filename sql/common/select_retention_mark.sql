-- What retention has deleted so far, in one row. Every deletion of raw events records its day
-- in retention_dropped_days, so this row changes whenever retention deletes anything; the API's
-- visitor index then forgets the days it built before the newest such day (api/visitors.py).
-- A table of a row per deleted day: no scan of events or event_keys.
SELECT count(*) AS days, coalesce(sum(events), 0) AS events, max(day) AS newest
FROM retention_dropped_days
