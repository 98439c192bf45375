-- The distinct visitor ids with from <= occurred_at < to over the websites in the filter.
SELECT DISTINCT visitor_id
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
