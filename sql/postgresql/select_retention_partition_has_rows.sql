SELECT EXISTS (SELECT 1 FROM {partition}) AS has_rows
