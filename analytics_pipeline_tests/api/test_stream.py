"""The SSE stream over real HTTP: the first dashboard at once, then one after each cache refresh
(Redis pub/sub, or polling of the embedded cache)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx

from analytics_pipeline.cache.warm import warm_job
from analytics_pipeline_tests.api.conftest import ALL_KEY, LiveServer, make_app


def _events(response: httpx.Response):
    """(event name, data) of each SSE message."""
    name, data = None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and name:
            yield name, json.loads("\n".join(data))
            name, data = None, []


def test_stream_pushes_the_dashboard_after_a_refresh(populated, warehouse_url, cache_url, tmp_path: Path) -> None:
    app = make_app(warehouse_url, cache_url, tmp_path, stream_poll_seconds=0.3)
    with LiveServer(app) as server:
        url = f"{server.url}/api/v1/stream?timeframe=7d&key={ALL_KEY}"
        with httpx.stream("GET", url, timeout=30) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
            name, first = next(events)
            assert name == "dashboard" and first["refreshedBy"] is None
            assert first["data"]["cards"]["pageviews"]["value"] == 5
            cache = app.state.services.cache()
            threading.Timer(0.8, lambda: warm_job("summary", populated, cache)).start()
            started = time.monotonic()
            name, pushed = next(events)
            assert name == "dashboard" and pushed["refreshedBy"] == "summary"
            assert pushed["data"]["cards"]["pageviews"]["value"] == 5
            assert time.monotonic() - started < 15


def test_stream_needs_a_key_and_valid_parameters(bare_client) -> None:
    assert bare_client.get("/api/v1/stream").status_code == 401
    response = bare_client.get("/api/v1/stream", params={"timeframe": "5y", "key": ALL_KEY})
    assert response.status_code == 400 and response.json()["error"]["field"] == "timeframe"


def test_refresh_notices_stay_on_their_own_redis_database(redis_url: str) -> None:
    """Redis delivers pub/sub messages server-wide: a deployment on another database of the
    same server must not hear this one's refreshes (nor the other way round)."""
    import redis

    from analytics_pipeline.cache.backends import RedisCache, db_channel

    cache_url = redis_url
    here = RedisCache(cache_url)
    db = here.client.connection_pool.connection_kwargs.get("db", 0)
    other_db = 14 if db != 14 else 13
    other = RedisCache(cache_url.rsplit("/", 1)[0] + f"/{other_db}")
    listener = redis.Redis.from_url(cache_url, decode_responses=True).pubsub()
    listener.subscribe(db_channel("analytics:refresh", db))
    listener.get_message(timeout=2)  # the subscribe confirmation
    other.publish("analytics:refresh", '{"job": "elsewhere"}')
    here.publish("analytics:refresh", '{"job": "here"}')
    heard = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not heard:
        message = listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message:
            heard.append(json.loads(message["data"])["job"])
    listener.close()
    assert heard == ["here"]
    assert db_channel("analytics:refresh", 0) == "analytics:refresh"
    assert db_channel("analytics:refresh", 3) == "analytics:refresh:db3"
