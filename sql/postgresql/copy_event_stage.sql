COPY event_stage (line_number, event_id, website_id, session_id, visitor_id, event_type, event_name,
                  url_path, referrer, occurred_at, properties) FROM STDIN
