-- Raw events left on the days [start, end).
SELECT count(*) AS events FROM events WHERE occurred_at >= :start AND occurred_at < :end
