"""Two cache backends with one interface: Redis, and an embedded table in the warehouse.

Both store JSON text under ``analytics:``-namespaced keys with a TTL in seconds; the embedded
one honours expiry on read (an expired entry is a miss) and ``purge_expired`` removes them.
"""

from __future__ import annotations

import fnmatch
import sys
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import sqlalchemy as sa

from analytics_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    import redis

# redis (and redis.asyncio, which it imports) is imported when a RedisCache is made, not with this
# module: every code location load and every run worker imports this module, most never use Redis.


class CacheUnavailable(Exception):
    """The cache backend cannot be reached."""


def is_redis_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a Redis client error (false without importing redis when no Redis
    client was ever made in this process: then none can have been raised)."""
    client = sys.modules.get("redis")
    return client is not None and isinstance(exc, client.exceptions.RedisError)


class Cache(ABC):
    """Key/value store of warmed entries."""

    kind: str

    @abstractmethod
    def set_many(self, entries: dict[str, str], ttl_seconds: int) -> None: ...

    @abstractmethod
    def get(self, key: str) -> str | None: ...

    @abstractmethod
    def ttl(self, key: str) -> int | None:
        """Seconds to live, ``None`` when the key is missing or has no expiry."""

    @abstractmethod
    def keys(self, pattern: str) -> list[str]:
        """Keys matching a glob ``pattern`` (Redis ``MATCH`` syntax)."""

    @abstractmethod
    def delete(self, keys: list[str]) -> int: ...

    @abstractmethod
    def purge_expired(self) -> int:
        """Remove expired entries; the number removed (Redis expires on its own: 0)."""

    def delete_pattern(self, pattern: str) -> int:
        return self.delete(self.keys(pattern))

    def ping(self) -> None:
        """Raise :class:`CacheUnavailable` when the backend is down."""

    def publish(self, channel: str, message: str) -> None:
        """Tell listeners (the API's live stream) that entries changed; the embedded cache has
        no listeners (the stream polls it)."""


def db_channel(channel: str, db: int | str | None) -> str:
    """The pub/sub channel for a cache on Redis database ``db``: Redis delivers a message to
    every subscriber of the server whatever database it uses, so deployments sharing one server
    on different databases (or test runs) must not hear each other. Database 0 keeps the plain
    name."""
    return channel if not db or str(db) == "0" else f"{channel}:db{db}"


class RedisCache(Cache):
    kind = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                                        decode_responses=True)

    def _call(self, fn, *args, **kwargs):
        import redis

        try:
            return fn(*args, **kwargs)
        except redis.exceptions.ConnectionError as exc:
            raise CacheUnavailable(f"Redis is unreachable: {exc}") from exc

    def ping(self) -> None:
        self._call(self.client.ping)

    def publish(self, channel: str, message: str) -> None:
        db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self._call(self.client.publish, db_channel(channel, db), message)

    def set_many(self, entries: dict[str, str], ttl_seconds: int) -> None:
        def write() -> None:
            with self.client.pipeline(transaction=False) as pipe:
                for key, value in entries.items():
                    pipe.set(key, value, ex=ttl_seconds)
                pipe.execute()

        self._call(write)

    def get(self, key: str) -> str | None:
        return self._call(self.client.get, key)

    def ttl(self, key: str) -> int | None:
        value = self._call(self.client.ttl, key)
        return None if value is None or value < 0 else int(value)

    def keys(self, pattern: str) -> list[str]:
        return sorted(self._call(lambda: list(self.client.scan_iter(match=pattern, count=1000))))

    def delete(self, keys: list[str]) -> int:
        if not keys:
            return 0
        return int(self._call(self.client.delete, *keys))

    def purge_expired(self) -> int:
        return 0

    def info_stats(self) -> dict[str, int]:
        """Server-wide hit and miss counters."""
        info = self._call(self.client.info, "stats")
        return {"keyspace_hits": int(info.get("keyspace_hits", 0)),
                "keyspace_misses": int(info.get("keyspace_misses", 0))}


class EmbeddedCache(Cache):
    """The ``cache_entries`` table; ``expires_at`` is UTC."""

    kind = "embedded"

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def set_many(self, entries: dict[str, str], ttl_seconds: int) -> None:
        expires = self.warehouse.ts(self._now() + timedelta(seconds=ttl_seconds))
        with self.warehouse.begin() as conn:
            conn.execute(
                self.warehouse.sql("upsert_cache_entry"),
                [{"key": k, "value": v, "expires_at": expires} for k, v in entries.items()],
            )

    def get(self, key: str) -> str | None:
        with self.warehouse.connect() as conn:
            row = conn.execute(self.warehouse.sql("select_cache_entry"),
                               {"key": key, "now": self.warehouse.ts(self._now())}).first()
        return row[0] if row else None

    def ttl(self, key: str) -> int | None:
        with self.warehouse.connect() as conn:
            row = conn.execute(sa.text("SELECT expires_at FROM cache_entries WHERE key = :key"),
                               {"key": key}).first()
        if row is None or row[0] is None:
            return None
        remaining = (Warehouse.to_datetime(row[0]) - self._now()).total_seconds()
        return int(remaining) if remaining > 0 else None

    def keys(self, pattern: str) -> list[str]:
        with self.warehouse.connect() as conn:
            rows = conn.execute(self.warehouse.sql("select_cache_keys"),
                                {"now": self.warehouse.ts(self._now())}).all()
        return sorted(k for (k,) in rows if fnmatch.fnmatchcase(k, pattern))

    def delete(self, keys: list[str]) -> int:
        if not keys:
            return 0
        with self.warehouse.begin() as conn:
            return conn.execute(self.warehouse.sql("delete_cache_entry"), [{"key": k} for k in keys]).rowcount

    def purge_expired(self) -> int:
        return self.warehouse.run("delete_expired_cache_entries", {"now": self.warehouse.ts(self._now())})
