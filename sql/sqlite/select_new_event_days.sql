-- UTC days of the events in the new batches, with counts: the periods to mark dirty.
SELECT substr(occurred_at, 1, 10) AS day, count(*) AS events
FROM events
WHERE batch_id > :after_batch AND batch_id <= :upto_batch
GROUP BY 1
