-- The top_n url_paths with most pageviews in [from, to) for each website; ties by path.
-- Ties in byte order (COLLATE "C") whatever the database's collation, as SQLite and the
-- statistics order them.
SELECT website_id, item, count
FROM (
    SELECT website_id, item, count,
           row_number() OVER (PARTITION BY website_id ORDER BY count DESC, item COLLATE "C") AS rn
    FROM (
        SELECT website_id, url_path AS item, count(*) AS count
        FROM events
        WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
        GROUP BY website_id, url_path
    ) AS per_path
) AS ranked
WHERE rn <= :top_n
ORDER BY website_id COLLATE "C", rn
