-- One batch of raw events of the local days [start, end) of one time zone's websites that the
-- guard cleared; events loaded after the plan was made are left alone.
DELETE FROM events
WHERE rowid IN (
    SELECT rowid FROM events
    WHERE occurred_at >= :start AND occurred_at < :end AND batch_id <= :max_batch_id
      AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
    LIMIT :batch_size
)
