-- For the rest of this transaction only: join by probing indexes (see delete_old_event_keys.sql).
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)
