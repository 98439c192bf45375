COPY event_stage (event_id, website_id, session_id, visitor_id, event_type, event_name, url_path,
                  referrer, occurred_at, properties, ingested_at, source_file, batch_id)
FROM STDIN WITH (FORMAT binary)
