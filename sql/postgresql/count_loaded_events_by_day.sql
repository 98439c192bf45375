SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS events
FROM events
WHERE batch_id BETWEEN :first_batch AND :last_batch
GROUP BY 1
ORDER BY 1
