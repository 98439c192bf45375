-- Days in [start, end) whose raw events retention has deleted.
SELECT day FROM retention_dropped_days WHERE day >= :start AND day < :end ORDER BY day
