-- Raw events before the cutoff, per UTC day and website: what the guard compares with the stats.
SELECT substr(occurred_at, 1, 10) AS day,
       website_id,
       count(*)          AS events,
       max(ingested_at)  AS last_ingested_at,
       max(batch_id)     AS max_batch_id
FROM events
WHERE occurred_at < :cutoff
GROUP BY 1, 2
ORDER BY 1, 2
