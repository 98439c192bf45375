-- The top_n url_paths with most pageviews in [from, to) over all websites; ties by path.
-- Ties in byte order (COLLATE "C") whatever the database's collation, as SQLite and the
-- statistics order them.
SELECT url_path AS item, count(*) AS count
FROM events
WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
GROUP BY url_path
ORDER BY count DESC, url_path COLLATE "C"
LIMIT :top_n
