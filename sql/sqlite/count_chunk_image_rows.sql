-- Rows in the attached chunk image: the loader checks them against the chunk's accepted lines.
SELECT count(*) FROM ingest_chunk.chunk_rows
