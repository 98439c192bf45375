-- Bytes of the database file (pages in use and free pages alike: that is what the disk holds).
SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()
