-- Rows first_row < rowid <= last_row of the chunk image attached as ingest_chunk, in line
-- order. OR IGNORE: an event_id already stored is a duplicate and the first one wins; the
-- cursor's rowcount is the number actually loaded.
INSERT OR IGNORE INTO events (
    event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
    occurred_at, properties, ingested_at, source_file, batch_id
)
SELECT event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
       occurred_at, properties, :ingested_at, :source_file, :batch_id
FROM ingest_chunk.chunk_rows
WHERE rowid > :first_row AND rowid <= :last_row
ORDER BY rowid
