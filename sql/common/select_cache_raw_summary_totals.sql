-- The summary a dashboard without this pipeline runs on raw events (the seed's first two
-- queries): total events and distinct visitors with from <= occurred_at < to.
SELECT count(*) AS total_events, count(DISTINCT visitor_id) AS unique_users
FROM events
WHERE occurred_at >= :from AND occurred_at < :to
