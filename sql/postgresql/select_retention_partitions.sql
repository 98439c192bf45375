-- The day partitions of events (events_pYYYYMMDD), oldest first.
SELECT c.relname AS partition
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass
  AND c.relname ~ '^events_p[0-9]{8}$'
ORDER BY c.relname
