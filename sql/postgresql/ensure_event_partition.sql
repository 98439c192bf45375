SELECT analytics_ensure_event_partition(CAST(:day AS date))
