-- A chunk's accepted rows on their way from a parser process to the loader: an in-memory
-- database holding this one table, serialized (prepare.sqlite_image). Untyped columns keep
-- every value exactly as bound; row i of the chunk is rowid i + 1.
CREATE TABLE chunk_rows (
    event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
    occurred_at, properties
)
