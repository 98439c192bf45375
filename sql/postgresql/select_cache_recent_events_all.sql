-- The top_n latest events of all websites that occurred before until (newest first).
-- Ties in byte order (COLLATE "C") whatever the database's collation, as SQLite and the
-- statistics order them.
SELECT event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
       occurred_at
FROM events
WHERE occurred_at < :until
ORDER BY occurred_at DESC, event_id COLLATE "C" DESC
LIMIT :top_n
