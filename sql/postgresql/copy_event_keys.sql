-- Claims the chunk's event ids; a unique violation means some are already stored, and the
-- chunk then takes the slow path (stage and merge).
COPY event_keys (event_id, occurred_at)
FROM STDIN WITH (FORMAT binary)
