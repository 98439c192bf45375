"""The two intake endpoints over HTTP (in-process): answers per event, statuses, keys scoped to
websites, send-only keys, rate limits that count events, body and gzip limits, CORS."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import orjson
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from analytics_pipeline.api.app import create_app
from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.intake.config import IntakeConfig
from analytics_pipeline.ingestion.run import pending_files
from analytics_pipeline_tests.factories import event

KEY = {"X-API-Key": "shop-key-123"}
KEYS_YAML = """keys:
  - {name: shop, key: shop-key-123, websites: [site-a]}
  - {name: tracker, key: tracker-key-1, websites: [site-a], send_only: true}
"""


def _written(landing_dir: Path) -> list[dict]:
    return [orjson.loads(line) for f in pending_files(landing_dir) for line in f.read_bytes().splitlines()]


def test_one_event_is_accepted_durably_and_written_without_ip(intake_client, landing_dir: Path) -> None:
    with intake_client(KEYS_YAML) as client:
        response = client.post("/api/events", content=orjson.dumps(event(event_id="one-1", ip="203.0.113.5")),
                               headers=KEY)
        assert response.status_code == 202
        assert response.json() == {"accepted": 1, "rejected": 0,
                                   "results": [{"index": 0, "event_id": "one-1", "status": "accepted"}]}
        assert list(landing_dir.glob(".intake-*.part"))  # durable, not yet visible
    # the server stopped: its file is finished and ingestible
    assert _written(landing_dir) == [event(event_id="one-1") | {"event_id": "one-1"}]


def test_a_batch_answers_each_event(intake_client, landing_dir: Path) -> None:
    batch = [event(event_id="b-1"), event(event_id="b-2", url_path="no-slash"), event(event_id="b-3", website_id="blog")]
    with intake_client(KEYS_YAML) as client:
        response = client.post("/api/events/batch", content=orjson.dumps(batch), headers=KEY)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected"]
    assert body["results"][1]["reason"] == "url_path must start with '/': 'no-slash'"
    assert body["results"][2]["reason"] == "this API key may not send events for website 'blog'"
    assert [e["event_id"] for e in _written(landing_dir)] == ["b-1"]


def test_nothing_accepted_is_400_or_403_and_nothing_is_written(intake_client, landing_dir: Path) -> None:
    with intake_client(KEYS_YAML) as client:
        invalid = client.post("/api/events", content=orjson.dumps(event(occurred_at="2024-03-01T10:00:00")), headers=KEY)
        forbidden = client.post("/api/events/batch", content=orjson.dumps([event(website_id="blog")]), headers=KEY)
        mixed = client.post("/api/events/batch", content=orjson.dumps([{}, event(website_id="blog")]), headers=KEY)
        not_json = client.post("/api/events/batch", content=b"[{", headers=KEY)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "no_event_accepted"
    assert invalid.json()["results"][0]["reason"].startswith("occurred_at has no UTC offset")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden_website"
    assert mixed.status_code == 400 and mixed.json()["rejected"] == 2
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    assert _written(landing_dir) == []


def test_keys_missing_wrong_and_send_only(intake_client, landing_dir: Path) -> None:
    with intake_client(KEYS_YAML) as client:
        assert client.post("/api/events", content=orjson.dumps(event())).status_code == 401
        assert client.post("/api/events", content=orjson.dumps(event()),
                           headers={"X-API-Key": "wrong-key-1"}).status_code == 401
        # a browser beacon: key in the query string, text/plain body (no CORS preflight)
        beacon = client.post("/api/events/batch?key=tracker-key-1", content=orjson.dumps([event(event_id="bcn")]),
                             headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert beacon.status_code == 202
        # a send-only key reads nothing
        probe = APIRouter()

        @probe.get("/probe")
        def _probe(key: ApiKey = Depends(require_api_key)):
            return {"key": key.name}

        client.app.include_router(probe)
        assert client.get("/probe", headers={"X-API-Key": "shop-key-123"}).status_code == 200
        refused = client.get("/probe", headers={"X-API-Key": "tracker-key-1"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "send_only_key"


def test_rate_limit_counts_events(intake_client) -> None:
    with intake_client(inline="rate-key-1=*", rate=10) as client:
        headers = {"X-API-Key": "rate-key-1"}
        first = client.post("/api/events/batch", content=orjson.dumps([event() for _ in range(7)]), headers=headers)
        second = client.post("/api/events/batch", content=orjson.dumps([event() for _ in range(4)]), headers=headers)
        third = client.post("/api/events/batch", content=orjson.dumps([event() for _ in range(3)]), headers=headers)
    assert first.status_code == 202
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1
    assert second.json()["error"]["code"] == "rate_limited" and "10 events a minute" in second.json()["error"]["message"]
    assert third.status_code == 202  # 3 of the 10 tokens were left


def test_a_batch_larger_than_the_bucket_passes_when_the_bucket_is_full(intake_client) -> None:
    with intake_client(inline="rate-key-2=*", rate=5) as client:
        headers = {"X-API-Key": "rate-key-2"}
        big = client.post("/api/events/batch", content=orjson.dumps([event() for _ in range(8)]), headers=headers)
        after = client.post("/api/events", content=orjson.dumps(event()), headers=headers)
    assert big.status_code == 202 and big.json()["accepted"] == 8
    assert after.status_code == 429


def test_body_limits_gzip_and_gzip_bombs(intake_client, landing_dir: Path) -> None:
    batch = orjson.dumps([event(event_id=f"gz-{i}", properties={"pad": "x" * 100}) for i in range(20)])
    assert len(batch) > 2000 and len(gzip.compress(batch)) < 1000
    with intake_client(inline="body-key-1=*", max_body=2000, max_batch=20) as client:
        headers = {"X-API-Key": "body-key-1"}
        too_big = client.post("/api/events/batch", content=batch, headers=headers)
        gzipped = client.post("/api/events/batch", content=gzip.compress(batch),
                              headers={**headers, "Content-Encoding": "gzip"})
        bomb = client.post("/api/events/batch", content=gzip.compress(b"[" + b" " * 10_000_000 + b"]"),
                           headers={**headers, "Content-Encoding": "gzip"})
        many = client.post("/api/events/batch", content=b"[" + b",".join([b"1"] * 21) + b"]", headers=headers)
        brotli = client.post("/api/events", content=b"{}", headers={**headers, "Content-Encoding": "br"})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"
    assert gzipped.status_code == 413  # it inflates past the same limit
    assert bomb.status_code == 413 and bomb.json()["error"]["code"] == "body_too_large"
    assert many.status_code == 413 and many.json()["error"]["code"] == "batch_too_large"
    assert brotli.status_code == 415
    assert _written(landing_dir) == []


def test_gzip_body_within_the_limit_is_accepted(intake_client, landing_dir: Path) -> None:
    batch = orjson.dumps([event(event_id=f"gz-{i}") for i in range(20)])
    with intake_client(inline="body-key-1=*", max_body=len(batch)) as client:
        response = client.post("/api/events/batch", content=gzip.compress(batch),
                               headers={"X-API-Key": "body-key-1", "Content-Encoding": "gzip"})
    assert response.status_code == 202 and response.json()["accepted"] == 20
    assert len(_written(landing_dir)) == 20


def test_cors_lets_a_tracker_on_another_origin_send(intake_client) -> None:
    with intake_client(inline="cors-key-1=*", cors=("https://shop.example",)) as client:
        preflight = client.options("/api/events/batch", headers={
            "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type"})
        sent = client.post("/api/events/batch", content=orjson.dumps([event()]),
                           headers={"Origin": "https://shop.example", "X-API-Key": "cors-key-1"})
        other = client.options("/api/events/batch", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert sent.status_code == 202 and sent.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers


def test_intake_counters_are_in_the_apps_metrics_registry(tmp_path: Path, landing_dir: Path) -> None:
    app = create_app(ApiConfig(keys_file=tmp_path / "none.yaml", inline_keys="metrics-key-1=site-a"))
    if getattr(app.state, "metrics", None) is None:  # an app without its own /metrics registry
        app.state.metrics = SimpleNamespace(registry=CollectorRegistry())
    app.state.intake_config = IntakeConfig(landing_dir=landing_dir)
    headers = {"X-API-Key": "metrics-key-1"}
    with TestClient(app) as client:
        client.post("/api/events/batch", content=orjson.dumps([event(), event(), {"bad": 1}]), headers=headers)
        client.post("/api/events/batch", content=b"[", headers=headers)
        client.post("/api/events/batch", content=b"[]", headers={"X-API-Key": "wrong-key-1"})
        scraped = generate_latest(app.state.metrics.registry).decode()
    assert 'analytics_intake_events_total{verdict="accepted"} 2.0' in scraped
    assert 'analytics_intake_events_total{verdict="rejected"} 1.0' in scraped
    assert 'analytics_intake_requests_total{status="202"} 1.0' in scraped
    assert 'analytics_intake_requests_total{status="400"} 1.0' in scraped
    assert 'analytics_intake_requests_total{status="401"} 1.0' in scraped
    assert "analytics_intake_commits_total 1.0" in scraped
