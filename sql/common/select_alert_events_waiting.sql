-- Whether any event in [since, until) exists: data the daily aggregation should have covered.
SELECT count(*) AS waiting
FROM (SELECT 1 FROM events WHERE occurred_at >= :since AND occurred_at < :until LIMIT 1) AS probe
