-- The database file's used and free bytes (SQLite reuses freed pages; VACUUM returns them).
SELECT (p.page_count - f.freelist_count) * s.page_size AS used_bytes,
       f.freelist_count * s.page_size AS free_bytes
FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s
