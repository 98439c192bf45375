-- Rows of a chunk image (create_chunk_image.sql), in line order.
INSERT INTO chunk_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
