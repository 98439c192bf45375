-- Each website's distinct visitor ids with from <= occurred_at < to (one UTC day of the API's
-- visitor index).
SELECT DISTINCT website_id, visitor_id
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
