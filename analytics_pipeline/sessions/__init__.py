"""Sessions: one row per session_id, rebuilt from the events ingested since the last run."""
