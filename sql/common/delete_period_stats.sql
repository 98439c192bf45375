-- {table}/{key_column} come from a fixed whitelist (daily_stats/date, weekly_stats/period_start, ...).
DELETE FROM {table} WHERE {key_column} = :period
