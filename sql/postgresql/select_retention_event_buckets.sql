-- Raw events before the cutoff instant (the latest zone's local midnight of the cutoff day) per website
-- and 15-minute UTC bucket: retention maps each bucket to the website's local day.
SELECT website_id, date_bin('15 minutes', occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*)          AS events,
       max(ingested_at)  AS last_ingested_at,
       max(batch_id)     AS max_batch_id
FROM events
WHERE occurred_at < :cutoff
GROUP BY 1, 2
