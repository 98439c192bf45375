-- The top_n referrers (null shown as 'direct') with most pageviews in [from, to) over all
-- websites; ties by referrer.
SELECT coalesce(referrer, 'direct') AS item, count(*) AS count
FROM events
WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
GROUP BY coalesce(referrer, 'direct')
ORDER BY count DESC, item
LIMIT :top_n
