-- The schema a chunk image is deserialized into (prepare.sqlite_image), once per connection.
ATTACH ':memory:' AS ingest_chunk
