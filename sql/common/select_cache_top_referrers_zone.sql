-- The top_n referrers with most pageviews in one time zone's local days [from, to) for each of
-- its websites (every_website / include / exclude); ties by item. Run once per zone.
SELECT website_id, item, count
FROM (
    SELECT website_id, item, count,
           row_number() OVER (PARTITION BY website_id ORDER BY count DESC, item) AS rn
    FROM (
        SELECT website_id, coalesce(referrer, 'direct') AS item, count(*) AS count
        FROM events
        WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
          AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
        GROUP BY website_id, coalesce(referrer, 'direct')
    ) AS per_item
) AS ranked
WHERE rn <= :top_n
ORDER BY website_id, rn
