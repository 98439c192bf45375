-- The top_n url_paths with most pageviews in [from, to) over the websites in the filter; ties
-- by path.
SELECT url_path AS item, count(*) AS count
FROM events
WHERE event_type = 'pageview' AND occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
GROUP BY url_path
ORDER BY count DESC, item
LIMIT :top_n
