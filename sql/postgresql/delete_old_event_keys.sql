-- The idempotency keys of one day partition about to be dropped: the partition's own event ids,
-- sorted so that the probes of event_keys' primary key walk it in order. The transaction first
-- turns hash and merge joins off (set_retention_key_probes.sql): either would read all of
-- event_keys, whose size is the whole retention period, to delete one day.
DELETE FROM event_keys k
USING (SELECT event_id COLLATE "C" AS event_id FROM {partition} ORDER BY 1) AS day_ids
WHERE k.event_id = day_ids.event_id
