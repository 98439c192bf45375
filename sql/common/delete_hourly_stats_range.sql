-- The hours [start, end) being rebuilt, replaced in the same transaction.
DELETE FROM hourly_stats WHERE hour_start >= :start AND hour_start < :end
