-- Days whose raw events retention has deleted: events arriving for them are rejected.
SELECT day FROM retention_dropped_days ORDER BY day
