"""The warehouse, the cache and the Dagster instance as the API uses them, with cache-aside and
graceful degradation in one place.

- Cache first: an entry in the cache is answered without touching the warehouse.
- Cache down (Redis unreachable): answers are computed from the warehouse (``cached: false``).
- Warehouse down: what the cache still holds is served with ``stale: true`` (including the
  last good copy of a computed answer, kept for a day under ``analytics:last-good:…``); with
  nothing cached the answer is 503. The embedded cache lives in the warehouse, so this needs
  Redis.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa

from analytics_pipeline import settings
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.cache.backends import Cache, CacheUnavailable, EmbeddedCache, RedisCache
from analytics_pipeline.cache.warm import encode
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.warehouse.engine import redact_url
from analytics_pipeline.websites import WebsiteDirectory, current_websites

log = logging.getLogger("analytics_pipeline.api")

COMPUTED_TTL_SECONDS = 60
LAST_GOOD_TTL_SECONDS = 24 * 3600
LAST_GOOD_PREFIX = "analytics:last-good:"
# After a warehouse failure, answers from the cache say "stale" for this long (then the next
# miss tries the warehouse again).
WAREHOUSE_DOWN_SECONDS = 30.0

WAREHOUSE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, OSError)
CACHE_ERRORS = (CacheUnavailable, redis.exceptions.RedisError, sa.exc.OperationalError,
                sa.exc.InterfaceError, sa.exc.DatabaseError, OSError)


class WarehouseDown(Exception):
    """The warehouse cannot answer now."""


@dataclass
class Served:
    """An answer and where it came from."""

    value: Any = None
    raw: str | None = None  # the cached JSON text, when the answer came from the cache
    cached: bool = False
    stale: bool = False

    def json_value(self) -> Any:
        if self.value is None and self.raw is not None:
            self.value = json.loads(self.raw)
        return self.value


class Services:
    """Lazily opened backends of one app; safe to share between request threads."""

    def __init__(self, database_url: str | None = None, redis_url: str | None = None) -> None:
        self.database_url = database_url or settings.database_url()
        self.redis_url = settings.redis_url() if redis_url is None else redis_url
        self._warehouse: Warehouse | None = None
        self._redis: RedisCache | None = RedisCache(self.redis_url) if self.redis_url else None
        self._lock = threading.Lock()
        self.warehouse_failed_at: float | None = None
        self.computed_ttl_seconds = COMPUTED_TTL_SECONDS
        self._inflight: dict[str, Future] = {}
        self._inflight_lock = threading.Lock()
        self.on_cache_result: Callable[[str, str], None] = lambda entry, result: None

    # -- backends -----------------------------------------------------------------------------
    @property
    def cache_kind(self) -> str:
        return "redis" if self._redis is not None else "embedded"

    @property
    def display_url(self) -> str:
        return redact_url(self.database_url)

    def warehouse(self) -> Warehouse:
        """The warehouse (migrated on first use); :class:`WarehouseDown` when unreachable."""
        if self._warehouse is None:
            with self._lock:
                if self._warehouse is None:
                    try:
                        self._warehouse = Warehouse(self.database_url)
                    except WAREHOUSE_ERRORS as exc:
                        self.mark_warehouse_down(exc)
                        raise WarehouseDown(str(exc).splitlines()[0]) from exc
        return self._warehouse

    def cache(self) -> Cache:
        """Redis, or the embedded table (which needs the warehouse)."""
        if self._redis is not None:
            return self._redis
        try:
            return EmbeddedCache(self.warehouse())
        except WarehouseDown as exc:
            raise CacheUnavailable(f"embedded cache: the warehouse is down ({exc})") from exc

    def websites(self) -> WebsiteDirectory:
        return current_websites()

    def mark_warehouse_down(self, exc: BaseException) -> None:
        self.warehouse_failed_at = time.monotonic()
        log.warning("warehouse unavailable: %s", str(exc).splitlines()[0][:300])

    @property
    def warehouse_recently_down(self) -> bool:
        return self.warehouse_failed_at is not None and time.monotonic() - self.warehouse_failed_at < WAREHOUSE_DOWN_SECONDS

    # -- cache operations that never raise ----------------------------------------------------
    def cache_get(self, key: str) -> str | None:
        try:
            return self.cache().get(key)
        except CACHE_ERRORS as exc:
            log.warning("cache read of %s failed: %s", key, str(exc).splitlines()[0][:200])
            return None

    def cache_set(self, entries: dict[str, str], ttl_seconds: int) -> bool:
        try:
            self.cache().set_many(entries, ttl_seconds)
            return True
        except CACHE_ERRORS as exc:
            log.warning("cache write failed: %s", str(exc).splitlines()[0][:200])
            return False

    # -- the one read path ---------------------------------------------------------------------
    def compute(self, fn: Callable[[Warehouse], Any]) -> Any:
        """``fn(warehouse)``; a connection failure becomes :class:`WarehouseDown`."""
        warehouse = self.warehouse()
        try:
            return fn(warehouse)
        except WAREHOUSE_ERRORS as exc:
            self.mark_warehouse_down(exc)
            raise WarehouseDown(str(exc).splitlines()[0][:300]) from exc

    def lookup(self, entry: str, key: str) -> Served | None:
        """The cached answer of ``key`` (a hit), or None (a miss); never raises."""
        raw = self.cache_get(key)
        self.on_cache_result(entry, "miss" if raw is None else "hit")
        return None if raw is None else Served(raw=raw, cached=True, stale=self.warehouse_recently_down)

    def cache_aside(self, entry: str, key: str, compute: Callable[[Warehouse], Any], *,
                    ttl_seconds: int | None = None, read_cache: bool = True) -> Served:
        """The cached value of ``key``, or ``compute(warehouse)`` stored for ``ttl_seconds``
        (and as the last good copy). ``entry`` names the kind of entry in /metrics."""
        if read_cache:
            found = self.lookup(entry, key)
            if found is not None:
                return found
        # one computation per key at a time in this process: concurrent misses of the same key
        # (an entry that just expired under load) wait for it instead of all asking the warehouse
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                running = self._inflight[key] = Future()
                leader = True
            else:
                leader = False
        if not leader:
            return running.result()
        try:
            served = self._compute_and_store(key, compute, ttl_seconds)
            running.set_result(served)
            return served
        except BaseException as exc:
            running.set_exception(exc)
            raise
        finally:
            with self._inflight_lock:
                self._inflight.pop(key, None)

    def _compute_and_store(self, key: str, compute: Callable[[Warehouse], Any], ttl_seconds: int | None) -> Served:
        try:
            value = self.compute(compute)
        except WarehouseDown as exc:
            for candidate in (key, LAST_GOOD_PREFIX + key):
                raw = self.cache_get(candidate)
                if raw is not None:
                    return Served(raw=raw, cached=True, stale=True)
            raise ApiError(503, "warehouse_unavailable",
                           "the warehouse is unavailable and nothing is cached for this request",
                           reason=str(exc)[:300]) from exc
        text = encode(value)
        stored = self.cache_set({key: text}, ttl_seconds or self.computed_ttl_seconds)
        if stored and self._redis is not None:  # the embedded cache goes down with the warehouse
            self.cache_set({LAST_GOOD_PREFIX + key: text}, LAST_GOOD_TTL_SECONDS)
        return Served(value=value, raw=text, cached=False)
