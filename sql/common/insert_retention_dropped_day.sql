INSERT INTO retention_dropped_days (day, events, dropped_at, run_id)
VALUES (:day, :events, :dropped_at, :run_id)
ON CONFLICT (day) DO UPDATE SET events = retention_dropped_days.events + excluded.events,
                                dropped_at = excluded.dropped_at, run_id = excluded.run_id
