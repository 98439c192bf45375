-- Rejected lines older than the rejected-lines retention (what housekeeping deletes).
SELECT count(*) AS n FROM rejected_events WHERE rejected_at < :before
