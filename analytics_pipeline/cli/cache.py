"""``cache``: the warmed dashboard cache without Dagster (the seed's triggerJob, clearCache,
invalidateCache), on the configured warehouse and cache (``ANALYTICS_REDIS_URL`` or embedded).

    analytics-pipeline cache warm summary          # one job by id, in-process
    analytics-pipeline cache warm all              # every warming job, then performance-metrics
    analytics-pipeline cache invalidate 'analytics:summary:*'
    analytics-pipeline cache clear
    analytics-pipeline cache keys ['analytics:top-items:*']
    analytics-pipeline cache get 'analytics:performance-metrics'
"""

from __future__ import annotations

import argparse
import json
import sys

from analytics_pipeline import settings
from analytics_pipeline.cache.backends import Cache, CacheUnavailable, EmbeddedCache, RedisCache
from analytics_pipeline.cache.warm import JOBS, clear_all, invalidate, warm_all, warm_job
from analytics_pipeline.warehouse import Warehouse


def open_cache(warehouse: Warehouse) -> Cache:
    """Redis when ``ANALYTICS_REDIS_URL`` is set, else the warehouse's embedded cache table."""
    url = settings.redis_url()
    return RedisCache(url) if url else EmbeddedCache(warehouse)


def register(subparsers: argparse._SubParsersAction) -> None:
    cache = subparsers.add_parser("cache", help="warm, inspect, invalidate the dashboard cache")
    sub = cache.add_subparsers(dest="cache_command", required=True)

    warm = sub.add_parser("warm", help="run one warming job by id now (or 'all')")
    warm.add_argument("job_id", choices=[*JOBS, "all"])
    warm.set_defaults(func=cmd_warm)

    inv = sub.add_parser("invalidate", help="delete the keys matching a glob (must start with analytics:)")
    inv.add_argument("pattern")
    inv.set_defaults(func=cmd_invalidate)

    clear = sub.add_parser("clear", help="delete every analytics: key")
    clear.set_defaults(func=cmd_clear)

    keys = sub.add_parser("keys", help="list keys matching a glob with their TTL")
    keys.add_argument("pattern", nargs="?", default="analytics:*")
    keys.set_defaults(func=cmd_keys)

    get = sub.add_parser("get", help="print one entry's JSON")
    get.add_argument("key")
    get.set_defaults(func=cmd_get)


def _open() -> tuple[Warehouse, Cache]:
    warehouse = Warehouse(settings.database_url())
    return warehouse, open_cache(warehouse)


def _unavailable(exc: CacheUnavailable) -> int:
    print(f"cache unavailable: {exc}", file=sys.stderr)
    return 2


def cmd_warm(args: argparse.Namespace) -> int:
    warehouse, cache = _open()
    try:
        if args.job_id == "all":
            result = warm_all(warehouse, cache)
            for job_id, job in result["jobs"].items():
                print(f"{job_id:<20} {job['entries']:>4} entries {job['bytes']:>9,} bytes {job['seconds']:.3f}s")
            print(f"{result['entries']} entries, {result['bytes']:,} bytes in {result['seconds']:.3f}s "
                  f"({result['backend']} cache)")
            return 0
        result = warm_job(args.job_id, warehouse, cache)
    except CacheUnavailable as exc:
        return _unavailable(exc)
    print(f"{args.job_id}: {result.entries} entries, {result.bytes:,} bytes, TTL {result.ttl_seconds}s, "
          f"{result.seconds:.3f}s ({cache.kind} cache)")
    for timing in result.timings:
        print(f"  {timing.name:<45} {timing.seconds * 1000:9.2f} ms {timing.rows:>6} rows")
    return 0


def cmd_invalidate(args: argparse.Namespace) -> int:
    _warehouse, cache = _open()
    try:
        removed = invalidate(cache, args.pattern)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CacheUnavailable as exc:
        return _unavailable(exc)
    print(f"deleted {removed} key(s) matching {args.pattern}")
    return 0


def cmd_clear(_args: argparse.Namespace) -> int:
    _warehouse, cache = _open()
    try:
        removed = clear_all(cache)
    except CacheUnavailable as exc:
        return _unavailable(exc)
    print(f"deleted {removed} analytics key(s)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    _warehouse, cache = _open()
    try:
        for key in cache.keys(args.pattern):
            print(f"{key}\tttl={cache.ttl(key)}")
    except CacheUnavailable as exc:
        return _unavailable(exc)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    _warehouse, cache = _open()
    try:
        raw = cache.get(args.key)
    except CacheUnavailable as exc:
        return _unavailable(exc)
    if raw is None:
        print(f"{args.key}: not cached", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(raw), indent=2))
    return 0
