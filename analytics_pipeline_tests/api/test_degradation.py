"""Graceful degradation: Redis down → answers computed from the warehouse; warehouse down →
what Redis still holds is served with ``stale: true`` (also after the 60-s entry expired, from
the last good copy), anything else is 503; the embedded cache goes down with its warehouse.

How the warehouse is stopped: PostgreSQL — its database is dropped (WITH FORCE) under the running
app; SQLite — the file is moved away and a directory put at its path, so every new connection
fails (the tests run as root, so a chmod would not stop SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from analytics_pipeline.cache import entries as E
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.warehouse.engine import dispose_engines
from analytics_pipeline_tests.api.conftest import AUTH, make_app
from analytics_pipeline_tests.cache.conftest import EVENTS, at, day, load
from analytics_pipeline_tests.conftest import ThrowawayPostgres
from fastapi.testclient import TestClient

DOWN_REDIS = "redis://127.0.0.1:1/0"


def _params(days_back: int) -> dict:
    return {"from": E.iso_ms(at(day(days_back), 0, 0)), "to": E.iso_ms(at(day(0), 0, 0))}


def test_redis_down_answers_from_the_warehouse(populated, warehouse_url, tmp_path: Path) -> None:
    with TestClient(make_app(warehouse_url, DOWN_REDIS, tmp_path)) as client:
        for _ in range(2):
            body = client.get("/api/analytics/summary", params=_params(7), headers=AUTH).json()
            assert body == {"data": {"totalEvents": 6, "uniqueUsers": 2, "eventsByType": {"pageview": 5, "signup": 1}},
                            "cached": False}
        assert client.get("/api/v1/dashboard", headers=AUTH).json()["cached"] is False
        health = client.get("/health")
        assert health.status_code == 503 and "cache" in health.json()["down"]
        assert health.json()["checks"]["warehouse"]["status"] == "ok"
        assert 'analytics_api_backend_up{backend="cache"} 0.0' in client.get("/metrics").text


@pytest.fixture(params=["sqlite", "postgresql"])
def stoppable_warehouse(request, tmp_path: Path):
    """``(url, stop)``: a warehouse of this test's own and a function that makes it unreachable."""
    if request.param == "sqlite":
        path = tmp_path / "stoppable.db"

        def stop() -> None:
            dispose_engines()
            path.rename(tmp_path / "moved-away.db")
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            path.mkdir()

        yield f"sqlite:///{path}", stop
        dispose_engines()
        return
    database = ThrowawayPostgres("analytics_stale")
    yield database.url, database.drop
    database.drop()


def test_warehouse_down_serves_the_cache_as_stale(stoppable_warehouse, redis_url, landing_dir: Path, tmp_path: Path) -> None:
    url, stop = stoppable_warehouse
    load(Warehouse(url), landing_dir, EVENTS, "events.jsonl")
    app = make_app(url, redis_url, tmp_path)
    app.state.services.computed_ttl_seconds = 2
    with TestClient(app) as client:
        fresh = client.get("/api/analytics/summary", params=_params(7), headers=AUTH).json()
        dashboard = client.get("/api/v1/dashboard", params={"timeframe": "7d"}, headers=AUTH).json()
        assert fresh["cached"] is False and "stale" not in fresh
        stop()
        # never asked before: nothing to serve
        missing = client.get("/api/analytics/summary", params=_params(9), headers=AUTH)
        assert missing.status_code == 503 and missing.json()["error"]["code"] == "warehouse_unavailable"
        stale = client.get("/api/analytics/summary", params=_params(7), headers=AUTH).json()
        assert stale == {**fresh, "cached": True, "stale": True}
        time.sleep(2.5)  # the 60-s entry (2 s here) is gone: the last good copy is served
        assert client.get("/api/analytics/summary", params=_params(7), headers=AUTH).json() == stale
        old = client.get("/api/v1/dashboard", params={"timeframe": "7d"}, headers=AUTH).json()
        assert old["stale"] is True and old["data"] == dashboard["data"]
        health = client.get("/health")
        assert health.status_code == 503 and "warehouse" in health.json()["down"]


def test_embedded_cache_goes_down_with_its_warehouse(stoppable_warehouse, landing_dir: Path, tmp_path: Path) -> None:
    url, stop = stoppable_warehouse
    load(Warehouse(url), landing_dir, EVENTS, "events.jsonl")
    with TestClient(make_app(url, "", tmp_path)) as client:
        assert client.get("/api/analytics/summary", params=_params(7), headers=AUTH).status_code == 200
        stop()
        response = client.get("/api/analytics/summary", params=_params(7), headers=AUTH)
        assert response.status_code == 503 and response.json()["error"]["code"] == "warehouse_unavailable"
