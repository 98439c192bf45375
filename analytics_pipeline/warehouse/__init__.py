"""The warehouse: one SQLAlchemy engine over SQLite (default) or PostgreSQL (production)."""

from analytics_pipeline.warehouse.engine import Warehouse, normalise_url

__all__ = ["Warehouse", "normalise_url"]
