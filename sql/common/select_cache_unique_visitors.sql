-- SPEC §5 uniqueUsers: distinct visitor_id with from <= occurred_at < to (all websites).
SELECT count(DISTINCT visitor_id) AS unique_users
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
