-- UTC hours of the events in the new batches, with counts: the hours to mark dirty.
SELECT date_trunc('hour', occurred_at) AS hour, count(*) AS events
FROM events
WHERE batch_id > :after_batch AND batch_id <= :upto_batch
GROUP BY 1
