"""Dagster resources: the warehouse, the cache and the pipeline settings (SPEC §1).

Each is a typed ``ConfigurableResource`` with thin methods that hand out the plain-Python
objects the stage modules work with, so the logic never imports Dagster.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.cache.backends import Cache, EmbeddedCache, RedisCache
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.warehouse.engine import redact_url


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: SQLite (zero set-up default) or PostgreSQL through psycopg 3."""

    database_url: str

    def get(self) -> Warehouse:
        """The warehouse, its schema migrated on first use in this process."""
        return Warehouse(self.database_url)

    @property
    def display_url(self) -> str:
        return redact_url(self.database_url)


class CacheResource(dg.ConfigurableResource):
    """Warmed cache entries: Redis when ``redis_url`` is set, else the warehouse's cache table."""

    redis_url: str = ""
    warehouse: WarehouseResource

    def get(self) -> Cache:
        if self.redis_url:
            return RedisCache(self.redis_url)
        return EmbeddedCache(self.warehouse.get())


class PipelineSettings(dg.ConfigurableResource):
    """Directories and policies from SPEC §1."""

    landing_dir: str
    reports_dir: str
    retention_days: int = 90
    retention_batch_size: int = 1000
    session_timeout_minutes: int = 30
    start_date: str = "2024-01-01"
    rejected_retention_days: int = 90
    ledger_retention_days: int = 400
    alert_history_retention_days: int = 180
    processed_retention_days: int = 30

    @property
    def landing_path(self) -> Path:
        return Path(self.landing_dir)

    @property
    def reports_path(self) -> Path:
        return Path(self.reports_dir)

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.start_date)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources of the code location, configured from the environment (``EnvVar`` when a
    variable is set, the documented default otherwise)."""
    warehouse = WarehouseResource(
        database_url=settings.env_or_default("ANALYTICS_DATABASE_URL", settings.database_url())
    )
    return {
        "warehouse": warehouse,
        "cache": CacheResource(
            redis_url=settings.env_or_default("ANALYTICS_REDIS_URL", ""), warehouse=warehouse
        ),
        "pipeline": PipelineSettings(
            landing_dir=settings.env_or_default("ANALYTICS_LANDING_DIR", str(settings.landing_dir())),
            reports_dir=settings.env_or_default("ANALYTICS_REPORTS_DIR", str(settings.reports_dir())),
            retention_days=settings.retention_days(),
            retention_batch_size=settings.retention_batch_size(),
            session_timeout_minutes=settings.session_timeout_minutes(),
            start_date=settings.start_date().isoformat(),
            rejected_retention_days=settings.rejected_retention_days(),
            ledger_retention_days=settings.ledger_retention_days(),
            alert_history_retention_days=settings.alert_history_retention_days(),
            processed_retention_days=settings.processed_retention_days(),
        ),
    }
