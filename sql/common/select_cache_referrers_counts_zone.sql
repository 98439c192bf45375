-- Pageviews per item (referrers) in one time zone's local days [from, to) over its websites:
-- the entries over all websites add these up across zones before ranking. Run once per zone.
SELECT coalesce(referrer, 'direct') AS item, count(*) AS count
FROM events
WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
  AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
GROUP BY coalesce(referrer, 'direct')
