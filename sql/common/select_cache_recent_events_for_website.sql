-- The top_n latest events of one website that occurred before until (newest first).
SELECT event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
       occurred_at
FROM events
WHERE website_id = :website_id AND occurred_at < :until
ORDER BY occurred_at DESC, event_id DESC
LIMIT :top_n
