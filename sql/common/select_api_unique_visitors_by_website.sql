-- Distinct visitor_id of each website in the filter with from <= occurred_at < to.
SELECT website_id, count(DISTINCT visitor_id) AS unique_visitors
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
GROUP BY website_id
