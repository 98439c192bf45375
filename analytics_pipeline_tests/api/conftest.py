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
def bare_client(tmp_path: Path) -> TestClient:
    """An app on an empty SQLite warehouse with the embedded cache: for checks that happen
    before any backend is asked (parameters, keys, limits)."""
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    Warehouse(url)
    with TestClient(make_app(url, "", tmp_path)) as test_client:
        yield test_client
