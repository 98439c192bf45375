"""Shared fixtures: real backends only.

``warehouse_url`` is parametrised over SQLite (a fresh file per test) and PostgreSQL (one
throwaway database per test session, emptied before each test). Redis tests use their own
logical database per xdist worker. Locally a missing service skips its tests; under
``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import tempfile
import uuid

# Tests never read the caller's configuration or write to their ./data: every ANALYTICS_*
# variable is cleared and the data dir is a throwaway one, before the package is imported.
for _name in [n for n in os.environ if n.startswith("ANALYTICS_") and not n.startswith("ANALYTICS_TEST_")]:
    del os.environ[_name]
os.environ["ANALYTICS_DATA_DIR"] = tempfile.mkdtemp(prefix="analytics_tests_")
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis
import sqlalchemy as sa

from analytics_pipeline.resources import CacheResource, PipelineSettings, WarehouseResource
from analytics_pipeline.reports.resources import ReportPolicy
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.warehouse.engine import dispose_engines

PG_HOST = os.environ.get("ANALYTICS_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_DSN = f"host={PG_HOST} port=5432 user=postgres dbname=postgres"
REDIS_BASE_URL = os.environ.get("ANALYTICS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
IN_CI = os.environ.get("CI", "").lower() == "true"
FIXTURES = Path(__file__).parent / "fixtures"


def service_missing(what: str, error: Exception) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping a backend."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)


class ThrowawayPostgres:
    """A new PostgreSQL database (``CREATE DATABASE name`` + ``options``) and its URL; ``drop()``
    removes it (also when it was never used). A missing server skips locally, fails in CI."""

    def __init__(self, prefix: str, options: str = "") -> None:
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as exc:
            service_missing("PostgreSQL", exc)
        with admin:
            admin.execute(f'CREATE DATABASE "{self.name}" {options}')
        self.url = f"postgresql+psycopg://postgres@{PG_HOST}:5432/{self.name}"

    def drop(self) -> None:
        dispose_engines()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session (per xdist worker)."""
    database = ThrowawayPostgres("analytics_test")
    yield database.url
    database.drop()


def _empty_postgres(url: str) -> None:
    warehouse = Warehouse(url)
    with warehouse.begin() as conn:
        partitions = conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")).scalars().all()
        for name in partitions:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
        tables = conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migrations'")).scalars().all()
        if tables:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated warehouse on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        Warehouse(url)
        return url
    url = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def warehouse(warehouse_url: str) -> Warehouse:
    return Warehouse(warehouse_url)


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis logical database of this xdist worker's own (also without xdist)."""
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "master")
    db = int(os.environ.get("ANALYTICS_TEST_REDIS_DB", "0")) or 1 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = f"{REDIS_BASE_URL}/{db}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        service_missing("Redis", exc)
    return url


@pytest.fixture
def landing_dir(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    path = tmp_path / "reports"
    path.mkdir()
    return path


@pytest.fixture
def resources(warehouse_url: str, landing_dir: Path, reports_dir: Path) -> dict[str, object]:
    """The code location's resources pointed at this test's warehouse and directories, with
    the embedded cache."""
    warehouse = WarehouseResource(database_url=warehouse_url)
    return {
        "warehouse": warehouse,
        "cache": CacheResource(redis_url="", warehouse=warehouse),
        "pipeline": PipelineSettings(landing_dir=str(landing_dir), reports_dir=str(reports_dir),
                                     start_date="2024-01-01"),
        "report_policy": ReportPolicy(),
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway Dagster instance (temp DAGSTER_HOME) so runs and materializations are real."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True, scope="session")
def _dagster_home_outside_the_repository(tmp_path_factory):
    """Commands run by tests without their own instance use a throwaway one, never ./.dagster_home."""
    import os

    if not os.environ.get("DAGSTER_HOME"):
        home = tmp_path_factory.mktemp("dagster_home")
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    yield
