-- The latest period that has statistics in {table} (keyed by {key_column}), or null.
SELECT MAX({key_column}) AS latest FROM {table}
