"""The serving side: an HTTP API (FastAPI) on the same warehouse and cache as the pipeline.

It reads cache entries and statistics and launches Dagster runs; no pipeline stage imports it.
"""
