-- Events of the new batches per website and 15-minute UTC bucket ('YYYY-MM-DD HH:MM'): Python
-- maps each bucket to the website's local day, the day to mark dirty (websites file in use).
SELECT website_id, substr(occurred_at, 1, 14) || printf('%02d', CAST(substr(occurred_at, 15, 2) AS INTEGER) / 15 * 15) AS bucket, count(*) AS events
FROM events
WHERE batch_id > :after_batch AND batch_id <= :upto_batch
GROUP BY 1, 2
