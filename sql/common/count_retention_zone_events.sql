-- Raw events left in the local days [start, end) of one time zone's websites.
SELECT count(*) AS events FROM events
WHERE occurred_at >= :start AND occurred_at < :end
  AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
