"""API keys, website scoping, per-key rate limits and the request body limit.

Keys come from a YAML file and/or an inline variable (see :mod:`.config`)::

    keys:
      - name: dashboard            # shown in logs and metrics, never the key itself
        key: "a-long-random-string"
        websites: ["*"]            # or a list of website ids this key may read and send for
        rate_per_minute: 1200      # optional; default ANALYTICS_API_RATE_LIMIT

A request carries its key as ``X-API-Key: …`` or ``Authorization: Bearer …`` (or, for
``EventSource`` in a browser, which cannot set headers, a ``key`` query parameter). Keys are
compared in constant time and never logged. Files are re-read when they change.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.api.errors import ApiError, error_body
from analytics_pipeline.config_files import FileProblem, YamlFileError, read_yaml

ALL_WEBSITES = "*"


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes  # sha256 of the key: the key itself is not kept
    websites: frozenset[str] | None  # None: every website
    rate_per_minute: int

    def allows(self, website_id: str | None) -> bool:
        """May this key use ``website_id`` (``None`` or ``"all"``: every website)?"""
        if self.websites is None:
            return True
        return website_id not in (None, "all") and website_id in self.websites

    def check_website(self, website_id: str | None) -> None:
        if not self.allows(website_id):
            scope = "all websites" if website_id in (None, "all") else f"website {website_id!r}"
            raise ApiError(403, "forbidden_website", f"this API key may not use {scope}")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _websites(value) -> frozenset[str] | None:
    if value is None or value == ALL_WEBSITES or (isinstance(value, list) and ALL_WEBSITES in value):
        return None
    if isinstance(value, str):
        value = [value]
    return frozenset(str(v) for v in value)


def parse_inline_keys(text: str, default_rate: int) -> list[ApiKey]:
    """``key=site-a,site-b;other=*`` (a key without ``=`` may use every website)."""
    keys = []
    for index, part in enumerate(p.strip() for p in text.split(";") if p.strip()):
        key, _, sites = part.partition("=")
        websites = _websites([s.strip() for s in sites.split(",") if s.strip()] or ALL_WEBSITES)
        keys.append(ApiKey(f"inline-{index + 1}", _digest(key.strip()), websites, default_rate))
    return keys


def load_keys_file(path: Path, default_rate: int) -> tuple[list[ApiKey], list[FileProblem]]:
    if not path.exists():
        return [], []
    try:
        content = read_yaml(path)
    except YamlFileError as exc:
        return [], [FileProblem(path.name, "file", exc.problem)]
    entries = content.get("keys") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        return [], [FileProblem(path.name, "keys", "expected a list under 'keys:'")]
    keys, problems = [], []
    for index, entry in enumerate(entries):
        label = f"keys[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or len(entry["key"]) < 8:
            problems.append(FileProblem(path.name, label, "needs 'key': a string of at least 8 characters; skipped"))
            continue
        rate = entry.get("rate_per_minute", default_rate)
        if not isinstance(rate, int) or rate < 1:
            problems.append(FileProblem(path.name, f"{label}.rate_per_minute", "not a positive integer; default used"))
            rate = default_rate
        keys.append(ApiKey(str(entry.get("name") or label), _digest(entry["key"]), _websites(entry.get("websites")), rate))
    return keys, problems


class KeyStore:
    """The configured keys, re-read when the keys file changes."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: list[ApiKey] = []
        self.problems: list[FileProblem] = []

    def keys(self) -> list[ApiKey]:
        try:
            mtime = self.config.keys_file.stat().st_mtime
        except OSError:
            mtime = -1.0
        if mtime != self._mtime:
            with self._lock:
                file_keys, problems = load_keys_file(self.config.keys_file, self.config.rate_limit_per_minute)
                self._keys = file_keys + parse_inline_keys(self.config.inline_keys, self.config.rate_limit_per_minute)
                self.problems, self._mtime = problems, mtime
        return self._keys

    def find(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found = None
        for key in self.keys():
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


class RateLimiter:
    """A token bucket per key: ``rate_per_minute`` requests a minute, bursts up to that many."""

    def __init__(self) -> None:
        self._buckets: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: ApiKey, cost: float = 1.0, now: float | None = None) -> float:
        """Take ``cost`` tokens; 0.0 when allowed, else the seconds to wait before a retry."""
        now = time.monotonic() if now is None else now
        capacity = float(key.rate_per_minute)
        per_second = capacity / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key.digest, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * per_second)
            if tokens >= cost:
                self._buckets[key.digest] = (tokens - cost, now)
                return 0.0
            self._buckets[key.digest] = (tokens, now)
            return (cost - tokens) / per_second


def presented_key(request: Request) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("key")


def require_api_key(request: Request) -> ApiKey:
    """FastAPI dependency: the request's valid key, rate-limited; 401 / 429 otherwise."""
    state = request.app.state
    presented = presented_key(request)
    if not presented:
        raise ApiError(401, "missing_api_key", "send an API key in the X-API-Key header",
                       headers={"WWW-Authenticate": "Bearer"})
    key = state.key_store.find(presented)
    if key is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    wait = state.rate_limiter.take(key)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"rate limit of {key.rate_per_minute} requests a minute reached",
                       headers={"Retry-After": str(retry)}, retry_after_seconds=retry)
    request.state.api_key = key
    return key


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` (declared or streamed) gets 413 JSON."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        refused = False

        async def limited_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _BodyTooLarge()
            return message

        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)
        except Exception:
            if refused and not started:
                await self._refuse(send)
            else:
                raise

    async def _refuse(self, send) -> None:
        import json

        body = json.dumps(error_body("body_too_large", f"request bodies are limited to {self.max_bytes} bytes",
                                     max_bytes=self.max_bytes)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
