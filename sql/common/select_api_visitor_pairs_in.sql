-- Each website's distinct visitor ids with from <= occurred_at < to for the websites in the
-- filter (the partial days at the ends of a range).
SELECT DISTINCT website_id, visitor_id
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
  AND (:include_all = 1 OR website_id IN :include)
  AND website_id NOT IN :exclude
