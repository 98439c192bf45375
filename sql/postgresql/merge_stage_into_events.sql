-- Staged rows (one per event_id: the chunk is deduplicated when prepared) -> events, exactly
-- once: a row is inserted only when its key is claimed in event_keys now. The row count is
-- the number loaded.
WITH claimed AS (
    INSERT INTO event_keys (event_id, occurred_at)
    SELECT event_id, occurred_at FROM event_stage
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (
    event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
    occurred_at, properties, ingested_at, source_file, batch_id
)
SELECT s.event_id, s.website_id, s.session_id, s.visitor_id, s.event_type, s.event_name, s.url_path,
       s.referrer, s.occurred_at, s.properties, s.ingested_at, s.source_file, s.batch_id
FROM event_stage s
JOIN claimed c USING (event_id)
