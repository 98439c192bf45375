-- The top_n latest events of all websites that occurred before until (newest first).
SELECT event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
       occurred_at
FROM events
WHERE occurred_at < :until
ORDER BY occurred_at DESC, event_id DESC
LIMIT :top_n
