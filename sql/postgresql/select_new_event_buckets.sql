-- Events of the new batches per website and 15-minute UTC bucket: Python maps each bucket to
-- the website's local day, the day to mark dirty (websites file in use).
SELECT website_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, count(*) AS events
FROM events
WHERE batch_id > :after_batch AND batch_id <= :upto_batch
GROUP BY 1, 2
