-- Bytes on disk (heap + indexes + TOAST) of the raw tables retention shrinks.
SELECT (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)
          FROM pg_inherits i WHERE i.inhparent = 'events'::regclass) AS events_bytes,
       pg_total_relation_size('event_keys') AS event_keys_bytes,
       pg_total_relation_size('sessions') AS sessions_bytes
