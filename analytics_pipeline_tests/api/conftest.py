"""API fixtures: the cache tests' small warehouse (events relative to today, statistics built),
an app on it with the embedded cache or Redis, and keys for every website and for one."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from analytics_pipeline.api.app import create_app
from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.api.runs import DagsterAccess
from analytics_pipeline.api.services import Services
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.cache.conftest import EVENTS, load

ALL_KEY = "test-key-all-websites"
SITE_A_KEY = "test-key-site-a-only"
INLINE_KEYS = f"{ALL_KEY}=*;{SITE_A_KEY}=site-a"
AUTH = {"X-API-Key": ALL_KEY}


@pytest.fixture
def populated(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    load(warehouse, landing_dir, EVENTS, "events.jsonl")
    return warehouse


@pytest.fixture(params=["embedded", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str:
    """'' for the embedded cache, else a flushed Redis database."""
    return "" if request.param == "embedded" else request.getfixturevalue("redis_url")


@pytest.fixture
def queued_instance():
    """A throwaway Dagster instance with the run queue of the repository's dagster.yaml."""
    overrides = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def make_app(warehouse_url: str, cache_url: str, tmp_path: Path, instance=None, **config):
    app = create_app(ApiConfig(keys_file=tmp_path / "no_keys.yaml", inline_keys=INLINE_KEYS, **config),
                     services=Services(warehouse_url, cache_url), dagster=DagsterAccess(instance))
    return app


@pytest.fixture
def client(populated: Warehouse, warehouse_url: str, cache_url: str, tmp_path: Path, queued_instance) -> TestClient:
    with TestClient(make_app(warehouse_url, cache_url, tmp_path, queued_instance)) as test_client:
        yield test_client


@pytest.fixture
def numbers_client(populated: Warehouse, warehouse_url: str, tmp_path: Path, queued_instance) -> TestClient:
    """The app on both warehouses with the embedded cache: for numbers computed on a miss, where
    the kind of cache plays no part (cache behaviour is tested with ``client`` on both)."""
    with TestClient(make_app(warehouse_url, "", tmp_path, queued_instance)) as test_client:
        yield test_client


@pytest.fixture
def bare_client(tmp_path: Path) -> TestClient:
    """An app on an empty SQLite warehouse with the embedded cache: for checks that happen
    before any backend is asked (parameters, keys, limits)."""
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    Warehouse(url)
    with TestClient(make_app(url, "", tmp_path)) as test_client:
        yield test_client


class LiveServer:
    """The app served by uvicorn on a free 127.0.0.1 port in a thread (real HTTP: the stream,
    the browser)."""

    def __init__(self, app) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def demo_warehouse(warehouse: Warehouse, landing_dir: Path, *, days: int = 21, events_per_day: int = 400,
                   websites: int = 3) -> tuple:
    """Demo events for the last ``days`` full days (the demo's generator), ingested, sessionised
    and aggregated; returns ``(first_day, end_day)``."""
    from datetime import datetime, timedelta, timezone

    from analytics_pipeline.demo.generate import EventGenerator
    from analytics_pipeline.ingestion.run import ingest_landing
    from analytics_pipeline.sessions.build import update_sessions
    from analytics_pipeline.stats.build import build_period

    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=days)
    EventGenerator(seed=7, websites=websites).write_days(landing_dir, first, days, events_per_day)
    ingest_landing(warehouse, landing_dir)
    update_sessions(warehouse, timeout_minutes=30)
    for offset in range(days):
        build_period(warehouse, "day", first + timedelta(days=offset))
    return first, today
