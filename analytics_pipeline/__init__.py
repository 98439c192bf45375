"""analytics_pipeline: a Dagster code location for product and web analytics.

The data flows ingestion -> sessions -> stats -> cache / reports; each stage is a subpackage
holding plain-Python logic plus a thin ``definitions.py`` with its Dagster wiring.
"""

__version__ = "0.1.0"
