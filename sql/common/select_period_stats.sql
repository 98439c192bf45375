SELECT * FROM {table} WHERE {key_column} = :period ORDER BY website_id
