-- The top_n referrers (null shown as 'direct') with most pageviews in [from, to) over all
-- Ties in byte order (COLLATE "C") whatever the database's collation, as SQLite and the
-- statistics order them.
-- websites; ties by referrer.
SELECT coalesce(referrer, 'direct') AS item, count(*) AS count
FROM events
WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
GROUP BY coalesce(referrer, 'direct')
ORDER BY count DESC, coalesce(referrer, 'direct') COLLATE "C"
LIMIT :top_n
