-- Raw events before the cutoff instant (the latest zone's local midnight of the cutoff day) per website
-- and 15-minute UTC bucket: retention maps each bucket to the website's local day.
SELECT website_id, substr(occurred_at, 1, 14) || printf('%02d', CAST(substr(occurred_at, 15, 2) AS INTEGER) / 15 * 15) AS bucket,
       count(*)          AS events,
       max(ingested_at)  AS last_ingested_at,
       max(batch_id)     AS max_batch_id
FROM events
WHERE occurred_at < :cutoff
GROUP BY 1, 2
