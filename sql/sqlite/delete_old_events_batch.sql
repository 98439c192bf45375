-- One batch of raw events of the days [start, end) that the guard cleared; events loaded after
-- the plan was made (batch_id above max_batch_id) are not in the statistics and are left alone.
DELETE FROM events
WHERE rowid IN (
    SELECT rowid FROM events
    WHERE occurred_at >= :start AND occurred_at < :end AND batch_id <= :max_batch_id
    LIMIT :batch_size
)
