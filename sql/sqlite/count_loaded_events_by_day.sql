SELECT substr(occurred_at, 1, 10) AS day, count(*) AS events
FROM events
WHERE batch_id BETWEEN :first_batch AND :last_batch
GROUP BY 1
ORDER BY 1
