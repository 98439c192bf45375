-- Staged rows -> events, exactly once: the first line of each event_id in the chunk claims the
-- key in event_keys; only claimed keys are inserted. The row count is the number loaded.
WITH firsts AS (
    SELECT DISTINCT ON (event_id) *
    FROM event_stage
    ORDER BY event_id, line_number
), claimed AS (
    INSERT INTO event_keys (event_id, occurred_at)
    SELECT event_id, occurred_at FROM firsts
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (
    event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
    occurred_at, properties, ingested_at, source_file, batch_id
)
SELECT f.event_id, f.website_id, f.session_id, f.visitor_id, f.event_type, f.event_name, f.url_path,
       f.referrer, f.occurred_at, f.properties, :ingested_at, :source_file, :batch_id
FROM firsts f
JOIN claimed c USING (event_id)
