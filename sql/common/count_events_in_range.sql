-- Events with occurred_at in [start, end) (the hourly statistics check counts against this).
SELECT count(*) AS events FROM events WHERE occurred_at >= :start AND occurred_at < :end
