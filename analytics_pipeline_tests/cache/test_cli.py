"""``analytics-pipeline cache ...`` on the configured warehouse and cache."""

from __future__ import annotations

import json

import pytest

from analytics_pipeline.cli import main
from analytics_pipeline_tests.cache.conftest import TODAY, day


@pytest.fixture
def configured(populated, warehouse_url, monkeypatch):
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", warehouse_url)
    monkeypatch.delenv("ANALYTICS_REDIS_URL", raising=False)
    return populated


def test_warm_invalidate_clear(configured, capsys):
    assert main(["cache", "warm", "summary"]) == 0
    assert "summary: 3 entries" in capsys.readouterr().out
    key = f"analytics:summary:{day(7).isoformat()}T00:00:00.000Z:{TODAY.isoformat()}T00:00:00.000Z"
    assert main(["cache", "get", key]) == 0
    assert json.loads(capsys.readouterr().out)["totalEvents"] == 6

    assert main(["cache", "warm", "all"]) == 0
    capsys.readouterr()
    assert main(["cache", "invalidate", "analytics:summary:*"]) == 0
    assert "deleted 3 key(s)" in capsys.readouterr().out
    assert main(["cache", "get", key]) == 1
    assert main(["cache", "invalidate", "*"]) == 2
    assert main(["cache", "clear"]) == 0
    assert main(["cache", "keys"]) == 0
    assert "analytics:" not in capsys.readouterr().out.split("analytics key(s)")[-1]


def test_warm_with_redis_down_exits_2(configured, monkeypatch, capsys):
    monkeypatch.setenv("ANALYTICS_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["cache", "warm", "summary"]) == 2
    assert "cache unavailable" in capsys.readouterr().err
