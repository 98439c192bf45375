-- event_keys loses its BRIN index on occurred_at (docs/retention.md, "Why event_keys has no time
-- index"; benchmarks/event_keys.py). Ingestion paid for it on every key: PostgreSQL 15 reads the
-- BRIN metapage for each inserted row (300,000 keys: 0.71-0.91 server CPU-s with it, 0.56-0.65
-- without). And it stopped serving retention once retention had run: new keys reuse the pages
-- that deleted keys freed, every BRIN range then spans old and new days, and a day's delete read
-- the whole table from the tenth cycle on. Retention now finds a dropped day's keys through the
-- primary key, with the event ids of the partition it drops (delete_old_event_keys.sql), so its
-- cost follows the day, not the table.
DROP INDEX IF EXISTS event_keys_occurred_at_brin;
