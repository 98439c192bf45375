-- The top_n referrers (null shown as 'direct') with most pageviews in [from, to) for each
-- Ties in byte order (COLLATE "C") whatever the database's collation, as SQLite and the
-- statistics order them.
-- website; ties by referrer.
SELECT website_id, item, count
FROM (
    SELECT website_id, item, count,
           row_number() OVER (PARTITION BY website_id ORDER BY count DESC, item COLLATE "C") AS rn
    FROM (
        SELECT website_id, coalesce(referrer, 'direct') AS item, count(*) AS count
        FROM events
        WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
        GROUP BY website_id, coalesce(referrer, 'direct')
    ) AS per_referrer
) AS ranked
WHERE rn <= :top_n
ORDER BY website_id COLLATE "C", rn
