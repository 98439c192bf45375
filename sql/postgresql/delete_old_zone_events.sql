-- Raw events of the local days [start, end) of one time zone's websites that the guard
-- cleared, and their idempotency keys, in one statement; events loaded after the plan was made
-- are left alone. Used where a UTC day partition holds local days of several zones. The keys are
-- found through event_keys' primary key (the transaction turns hash and merge joins off first:
-- set_retention_key_probes.sql), so the cost follows the deleted rows, not the table.
WITH gone AS (
    DELETE FROM events
    WHERE occurred_at >= :start AND occurred_at < :end AND batch_id <= :max_batch_id
      AND (:every_website OR website_id IN :include) AND website_id NOT IN :exclude
    RETURNING event_id
),
keys AS (
    DELETE FROM event_keys k USING gone WHERE k.event_id = gone.event_id RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS events, (SELECT count(*) FROM keys) AS event_keys
