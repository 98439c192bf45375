-- Distinct visitor_id with from <= occurred_at < to over the websites in the filter.
SELECT count(DISTINCT visitor_id) AS unique_users
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
