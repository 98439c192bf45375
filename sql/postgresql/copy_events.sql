-- The fast path of the load: every event id of the chunk was just claimed in event_keys.
-- Binary rows (prepare.binary_row / _fastpath.c, whole streams from copy_stream): no text for
-- the server to parse, timestamps as integers.
COPY events (event_id, website_id, session_id, visitor_id, event_type, event_name, url_path,
             referrer, occurred_at, properties, ingested_at, source_file, batch_id)
FROM STDIN WITH (FORMAT binary)
