SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS events
FROM events
WHERE batch_id > :after_batch AND batch_id <= :upto_batch
GROUP BY 1
