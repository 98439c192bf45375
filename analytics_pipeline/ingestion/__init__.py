"""Ingestion: event files in the landing directory -> ``events`` / ``rejected_events``."""
