"""Exactly once from HTTP to the dashboard, with a real server process killed mid-stream.

One scenario (module-scoped) drives a real ``uvicorn`` server: eight clients send batches, the
server is SIGKILLed while requests are in flight, restarted, and the clients retry what was not
answered, and re-send some batches that *were* answered (a client that timed out). Then the
landing files it left are ingested on each warehouse through the real assets (``raw_events``,
``sessions``, ``daily_stats``, the summary cache entry on both caches), and every acknowledged
event is counted exactly once everywhere.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import dagster as dg
import orjson
import pytest

from analytics_pipeline.cache.backends import EmbeddedCache, RedisCache
from analytics_pipeline.cache.definitions import CACHE_ASSETS
from analytics_pipeline.cache.entries import last_full_days, midnight, summary_key
from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.ingestion.run import pending_files
from analytics_pipeline.resources import CacheResource
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.stats.definitions import daily_stats
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.intake.server import ServerProcess

pytestmark = pytest.mark.e2e

BATCHES = 120
PER_BATCH = 25
CLIENTS = 8
KILL_AFTER_ACKS = 40
RETRIED_ACKED = 10
KEY = "e2e-intake-key-1"
YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)


def _batch(b: int) -> list[dict]:
    """Batch ``b``: 25 pageviews of visitor v{b % 7} in session s{b}; every 10th batch also
    holds one invalid event (answered rejected, never written)."""
    start = datetime.combine(YESTERDAY, time(6), tzinfo=timezone.utc) + timedelta(minutes=b)
    events = [{"event_id": f"e2e-{b:03d}-{i:02d}", "website_id": "site-a", "session_id": f"s{b}",
               "visitor_id": f"v{b % 7}", "event_type": "pageview", "url_path": f"/p{i % 5}",
               "occurred_at": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
               "ip": "203.0.113.10", "context": {"ip": "203.0.113.10", "userAgent": "test"}}
              for i in range(PER_BATCH)]
    if b % 10 == 0:
        events.append({"event_id": f"e2e-{b:03d}-bad", "website_id": "site-a", "session_id": f"s{b}",
                       "visitor_id": "v", "event_type": "pageview", "occurred_at": events[0]["occurred_at"]})
    return events


def _expected_ids() -> set[str]:
    return {e["event_id"] for b in range(BATCHES) for e in _batch(b) if not e["event_id"].endswith("bad")}


@dataclass
class Delivery:
    landing: Path
    acked_before_kill: set[int] = field(default_factory=set)
    unanswered: set[int] = field(default_factory=set)
    retried_acked: list[int] = field(default_factory=list)
    lines_at_kill: list[dict] = field(default_factory=list)
    open_at_kill: int = 0
    finished_at_kill: int = 0


def _send(server: ServerProcess, b: int) -> tuple[int, dict]:
    status, body = server.post("/api/events/batch", orjson.dumps(_batch(b)), {"X-API-Key": KEY})
    return status, orjson.loads(body)


def _check_answer(b: int, status: int, body: dict) -> None:
    assert status == 202, body
    bad = 1 if b % 10 == 0 else 0
    assert (body["accepted"], body["rejected"]) == (PER_BATCH, bad)
    if bad:
        assert body["results"][-1]["reason"] == "url_path is required for pageview events"


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Delivery:
    root = tmp_path_factory.mktemp("intake_crash")
    landing = root / "landing"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({
        "ANALYTICS_DATA_DIR": str(root / "data"),
        "ANALYTICS_LANDING_DIR": str(landing),
        "ANALYTICS_API_KEYS": f"{KEY}=site-a",
        "ANALYTICS_API_RATE_LIMIT": "10000000",
        "ANALYTICS_INTAKE_ROTATE_BYTES": "100000000",  # one file, open at the kill
        "ANALYTICS_INTAKE_ROTATE_SECONDS": "3600",
    })
    delivery = Delivery(landing)
    server = ServerProcess(env, root / "server.log").start()
    try:
        work: queue.Queue[int] = queue.Queue()
        for b in range(BATCHES):
            work.put(b)
        acked: set[int] = set()
        wrong_answers: list[str] = []
        lock = threading.Lock()
        enough = threading.Event()

        def client() -> None:
            while True:
                try:
                    b = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    status, body = _send(server, b)
                except (OSError, http.client.HTTPException):
                    return  # the server is gone: this batch was not answered
                try:
                    _check_answer(b, status, body)
                except AssertionError as exc:
                    wrong_answers.append(f"batch {b}: {exc}")
                    return
                with lock:
                    acked.add(b)
                    if len(acked) >= KILL_AFTER_ACKS:
                        enough.set()

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        assert enough.wait(120), "the server answered too few batches"
        server.kill()  # SIGKILL with requests in flight
        for t in threads:
            t.join(60)
        assert wrong_answers == []
        delivery.acked_before_kill = set(acked)
        delivery.unanswered = set(range(BATCHES)) - acked

        delivery.open_at_kill = len(list(landing.glob(".intake-*.jsonl.part")))
        delivery.finished_at_kill = len(pending_files(landing))
        for path in sorted(landing.glob("*intake-*.jsonl*")):
            delivery.lines_at_kill.extend(orjson.loads(line) for line in path.read_bytes().splitlines()
                                          if line.endswith(b"}"))

        server.start()  # finishes the killed process's open file
        leftover = [p.name for p in landing.glob(".intake-*.jsonl.part")]
        assert leftover == [], leftover
        # retry everything unanswered, and re-send some answered batches (a client timed out)
        delivery.retried_acked = sorted(delivery.acked_before_kill)[:RETRIED_ACKED]
        retries = sorted(delivery.unanswered) + delivery.retried_acked
        results: dict[int, tuple[int, dict]] = {}

        def retry(bs: list[int]) -> None:
            for b in bs:
                results[b] = _send(server, b)

        threads = [threading.Thread(target=retry, args=(retries[i::CLIENTS],)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for b in retries:
            _check_answer(b, *results[b])
    finally:
        server.stop()
    assert list(landing.glob(".intake-*.jsonl.part")) == []  # a graceful stop finishes the open file
    return delivery


def test_a_sigkill_after_202_loses_nothing_and_no_half_line_is_visible(delivery: Delivery) -> None:
    assert len(delivery.acked_before_kill) >= KILL_AFTER_ACKS and delivery.unanswered
    assert (delivery.open_at_kill, delivery.finished_at_kill) == (1, 0)
    ids_at_kill = {e["event_id"] for e in delivery.lines_at_kill}
    acked_ids = {e["event_id"] for b in delivery.acked_before_kill for e in _batch(b)
                 if not e["event_id"].endswith("bad")}
    assert acked_ids <= ids_at_kill
    for path in pending_files(delivery.landing):  # what the sensor sees: whole lines only
        for line in path.read_bytes().splitlines():
            obj = orjson.loads(line)
            assert "ip" not in obj and obj["context"] == {"userAgent": "test"}


def test_every_event_is_counted_exactly_once_from_events_to_the_dashboard(
        delivery: Delivery, warehouse_url: str, resources: dict, landing_dir: Path,
        instance: dg.DagsterInstance, redis_url: str) -> None:
    for path in pending_files(delivery.landing):
        shutil.copy2(path, landing_dir / path.name)
    expected = _expected_ids()
    total = len(expected)
    visitors = {f"v{b % 7}" for b in range(BATCHES)}

    ingested = dg.materialize([raw_events, sessions], resources=resources, instance=instance)
    assert ingested.success
    meta = ingested.asset_materializations_for_node("raw_events")[0].metadata
    assert meta["loaded"].value == total and meta["rejected"].value == 0
    # the re-sent answered batches came in again and were counted as duplicates, not loaded
    assert meta["duplicates"].value >= RETRIED_ACKED * PER_BATCH

    warehouse = Warehouse(warehouse_url)
    with warehouse.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT event_id FROM events")]
        session_events = conn.exec_driver_sql("SELECT sum(events), sum(pageviews), count(*) FROM sessions").one()
        rejected = conn.exec_driver_sql("SELECT count(*) FROM rejected_events").scalar_one()
    assert len(ids) == total and set(ids) == expected
    assert tuple(int(v) for v in session_events) == (total, total, BATCHES)
    assert rejected == 0  # HTTP rejections were answered, never written

    stats = dg.materialize([daily_stats], resources=resources, instance=instance, partition_key=YESTERDAY.isoformat())
    assert stats.success
    with warehouse.engine.connect() as conn:
        day = conn.exec_driver_sql("SELECT total_pageviews, unique_visitors, unique_sessions FROM daily_stats "
                                   "WHERE website_id = 'site-a'").one()
    assert tuple(int(v) for v in day) == (total, len(visitors), BATCHES)

    first, end = last_full_days(datetime.now(timezone.utc), 7)
    key = summary_key(midnight(first), midnight(end))
    for cache, url in ((EmbeddedCache(warehouse), ""), (RedisCache(redis_url), redis_url)):
        with_cache = {**resources, "cache": CacheResource(redis_url=url, warehouse=resources["warehouse"])}
        assert dg.materialize([CACHE_ASSETS["summary"]], resources=with_cache, instance=instance).success
        assert json.loads(cache.get(key)) == {"totalEvents": total, "uniqueUsers": len(visitors),
                                              "eventsByType": {"pageview": total}}
