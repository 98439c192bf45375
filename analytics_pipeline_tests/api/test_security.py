"""API keys, website scoping, rate limits, body limits and JSON errors of the app skeleton."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient

from analytics_pipeline.api.app import create_app
from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.api.security import ApiKey, RateLimiter, load_keys_file, parse_inline_keys, require_api_key


def _app(tmp_path: Path, keys_yaml: str = "", inline: str = "", rate: int = 600, max_body: int = 1024):
    keys_file = tmp_path / "api_keys.yaml"
    if keys_yaml:
        keys_file.write_text(keys_yaml)
    app = create_app(ApiConfig(keys_file=keys_file, inline_keys=inline, rate_limit_per_minute=rate,
                               max_body_bytes=max_body))
    probe = APIRouter()

    @probe.get("/probe/{website}")
    def _get(website: str, key: ApiKey = Depends(require_api_key)):
        key.check_website(website)
        return {"key": key.name, "website": website}

    @probe.post("/probe")
    async def _post(request: Request, key: ApiKey = Depends(require_api_key)):
        return {"bytes": len(await request.body())}

    app.include_router(probe)
    return TestClient(app)


def test_keys_file_scopes_websites_and_never_keeps_the_key(tmp_path: Path) -> None:
    client = _app(tmp_path, "keys:\n  - {name: shop, key: shop-key-123, websites: [shop]}\n"
                            "  - {name: all, key: all-key-1234, websites: ['*']}\n  - {key: short}\n")
    assert client.get("/probe/shop", headers={"X-API-Key": "shop-key-123"}).json() == {"key": "shop", "website": "shop"}
    denied = client.get("/probe/blog", headers={"X-API-Key": "shop-key-123"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden_website"
    assert client.get("/probe/all", headers={"X-API-Key": "shop-key-123"}).status_code == 403
    assert client.get("/probe/blog", headers={"Authorization": "Bearer all-key-1234"}).status_code == 200
    keys, problems = load_keys_file(tmp_path / "api_keys.yaml", 600)
    assert [k.name for k in keys] == ["shop", "all"] and len(problems) == 1
    assert all(b"shop-key-123" not in k.digest for k in keys)


@pytest.mark.parametrize("headers,code", [({}, "missing_api_key"), ({"X-API-Key": "nope-nope"}, "invalid_api_key")])
def test_missing_or_wrong_key_is_401_json(tmp_path: Path, headers: dict, code: str) -> None:
    response = _app(tmp_path, inline="right-key-1=*").get("/probe/x", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == code


def test_inline_keys() -> None:
    keys = parse_inline_keys("k1=a,b; k2=*;k3", 60)
    assert [k.websites for k in keys] == [frozenset({"a", "b"}), None, None]


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    client = _app(tmp_path, inline="rate-key-1=*", rate=3)
    statuses = [client.get("/probe/x", headers={"X-API-Key": "rate-key-1"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/probe/x", headers={"X-API-Key": "rate-key-1"})
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["error"]["code"] == "rate_limited"


def test_token_bucket_refills() -> None:
    limiter, key = RateLimiter(), ApiKey("k", b"d", None, 60)
    assert [limiter.take(key, now=0.0) for _ in range(60)] == [0.0] * 60
    assert limiter.take(key, now=0.0) == pytest.approx(1.0)
    assert limiter.take(key, now=1.0) == 0.0


def test_oversized_body_is_413_json(tmp_path: Path) -> None:
    client = _app(tmp_path, inline="body-key-1=*", max_body=100)
    ok = client.post("/probe", content=b"x" * 100, headers={"X-API-Key": "body-key-1"})
    assert ok.json() == {"bytes": 100}
    big = client.post("/probe", content=b"x" * 101, headers={"X-API-Key": "body-key-1"})
    assert big.status_code == 413 and big.json()["error"]["max_bytes"] == 100

    def chunks():
        yield b"x" * 80
        yield b"x" * 80

    streamed = client.post("/probe", content=chunks(), headers={"X-API-Key": "body-key-1"})
    assert streamed.status_code == 413


def test_unknown_route_is_json_404(tmp_path: Path) -> None:
    response = _app(tmp_path).get("/nowhere")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
