"""The seed's AnalyticsBackgroundProcessor without its scheduler: warm one job's entries into
the cache, clear and invalidate by pattern, clean up, and report performance.

Plain Python (no Dagster): the cache assets, the CLI, ``make demo`` and the benchmark all call
these functions. Every warming job writes its entries with one TTL (longer than its refresh
interval, so a dashboard never meets a hole between refreshes) and then its own
``analytics:job-status:{id}`` entry, which the performance-metrics job aggregates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.backends import Cache, CacheUnavailable, is_redis_error
from analytics_pipeline.cache.metric_entries import metric_entries
from analytics_pipeline.warehouse import Warehouse

JOB_STATUS_TTL_SECONDS = 24 * 3600
# Every warming job announces its new entries here (Redis pub/sub); the API's stream listens.
REFRESH_CHANNEL = "analytics:refresh"


@dataclass(frozen=True)
class WarmJob:
    """One seed job: its id, its refresh interval and the TTL of the entries it writes."""

    id: str
    name: str
    interval_seconds: int
    ttl_seconds: int
    description: str
    compute: Callable[[Warehouse, Cache, datetime], E.Computed]
    keys: str  # the key pattern(s) it writes, for docs and metadata


def _performance_metrics(warehouse: Warehouse, cache: Cache, now: datetime) -> E.Computed:
    return performance_metrics_entries(cache, now)


def _cleanup(warehouse: Warehouse, cache: Cache, now: datetime) -> E.Computed:
    out = E.Computed()
    start = time.perf_counter()
    removed = cache.purge_expired()
    out.timings.append(E.QueryTiming("purge_expired", round(time.perf_counter() - start, 6), removed))
    return out


JOBS: dict[str, WarmJob] = {
    job.id: job
    for job in (
        WarmJob("user-growth", "User Growth Aggregation", 600, 1800,
                "Monthly unique visitors, sessions and pageviews for 6, 12 and 24 full months",
                lambda wh, _c, now: E.user_growth_entries(wh, now), "analytics:user-growth:{scope}:{months}"),
        WarmJob("activity-trends", "Activity Trends Aggregation", 300, 900,
                "Daily pageviews, custom events, visitors and sessions for 7, 14 and 30 full days",
                lambda wh, _c, now: E.activity_trends_entries(wh, now), "analytics:activity-trends:{scope}:{days}"),
        WarmJob("top-items", "Top Items Ranking", 900, 2700,
                "Top pages, referrers and custom events of the last 30 full days, 10/20/50 items",
                lambda wh, _c, now: E.top_items_entries(wh, now), "analytics:top-items:{scope}:{limit}"),
        WarmJob("recent-activity", "Recent Activity Update", 120, 360,
                "The latest 10 and 20 events",
                lambda wh, _c, now: E.recent_activity_entries(wh, now), "analytics:recent-activity:{scope}:{limit}"),
        WarmJob("summary", "Dashboard Summary Presets", 300, 900,
                "dashboard summaries of the last 7, 30 and 90 full UTC days",
                lambda wh, _c, now: E.summary_entries(wh, now), "analytics:summary:{from}:{to}"),
        WarmJob("metric", "Custom Metrics", 900, 2700,
                "Each custom metric's totals and daily series for 7 and 30 full days",
                lambda wh, _c, now: metric_entries(wh, now), "analytics:metric:{name}:{scope}:{days}"),
        WarmJob("performance-metrics", "Performance Metrics Update", 30, 120,
                "Each warming job's query durations, entries, bytes; cache hits and misses",
                _performance_metrics, E.PERFORMANCE_METRICS_KEY),
        WarmJob("cache-cleanup", "Cache Cleanup", 3600, JOB_STATUS_TTL_SECONDS,
                "Removes expired entries (the embedded cache; Redis expires keys itself)",
                _cleanup, "(removes expired entries)"),
    )
}
WARMING_JOBS = ("user-growth", "activity-trends", "top-items", "recent-activity", "summary")


@dataclass
class WarmResult:
    job_id: str
    started_at: datetime
    seconds: float
    ttl_seconds: int
    entry_bytes: dict[str, int] = field(default_factory=dict)
    timings: list[E.QueryTiming] = field(default_factory=list)
    cache_kind: str = ""
    cache_stats: dict[str, int] | None = None
    removed: int = 0

    @property
    def entries(self) -> int:
        return len(self.entry_bytes)

    @property
    def bytes(self) -> int:
        return sum(self.entry_bytes.values())

    def status(self) -> dict[str, Any]:
        """The ``analytics:job-status:{id}`` value (the seed's JobStatus)."""
        job = JOBS[self.job_id]
        return {
            "id": job.id, "name": job.name, "status": "completed",
            "lastRun": E.iso_ms(self.started_at),
            "nextRun": E.iso_ms(self.started_at + timedelta(seconds=job.interval_seconds)),
            "durationSeconds": round(self.seconds, 4), "entries": self.entries, "bytes": self.bytes,
            "ttlSeconds": self.ttl_seconds, "removed": self.removed,
            "queries": [{"name": t.name, "seconds": t.seconds, "rows": t.rows} for t in self.timings],
            "error": None,
        }


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _guard(cache: Cache, fn: Callable[[], Any]) -> Any:
    """Run a cache operation; any Redis failure becomes :class:`CacheUnavailable`."""
    try:
        return fn()
    except CacheUnavailable:
        raise
    except Exception as exc:
        if is_redis_error(exc):
            raise CacheUnavailable(f"{cache.kind} cache failed: {exc}") from exc
        raise


def cache_stats(cache: Cache) -> dict[str, int] | None:
    """Server hit/miss counters where the backend has them (Redis ``INFO stats``), else None."""
    info = getattr(cache, "info_stats", None)
    return _guard(cache, info) if info is not None else None


def warm_job(job_id: str, warehouse: Warehouse, cache: Cache, now: datetime | None = None) -> WarmResult:
    """Compute and write the entries of one job (``JOBS`` key, e.g. ``"user-growth"``).

    Raises :class:`CacheUnavailable` (before touching the warehouse) when the cache is down.
    A warehouse failure is recorded in the job's status entry, then re-raised."""
    if job_id not in JOBS:
        raise KeyError(f"unknown cache job {job_id!r}; known: {', '.join(JOBS)}")
    job = JOBS[job_id]
    now = now or datetime.now(timezone.utc)
    _guard(cache, cache.ping)
    start = time.perf_counter()
    try:
        computed = job.compute(warehouse, cache, now)
    except CacheUnavailable:
        raise
    except Exception as exc:
        failed = {"id": job.id, "name": job.name, "status": "failed", "lastRun": E.iso_ms(now),
                  "durationSeconds": round(time.perf_counter() - start, 4), "error": str(exc)[:500]}
        try:
            _guard(cache, lambda: cache.set_many({E.job_status_key(job.id): encode(failed)}, JOB_STATUS_TTL_SECONDS))
        except CacheUnavailable:
            pass
        raise
    encoded = {key: encode(value) for key, value in computed.entries.items()}
    if encoded:
        write_start = time.perf_counter()
        _guard(cache, lambda: cache.set_many(encoded, job.ttl_seconds))
        computed.timings.append(E.QueryTiming("cache write", round(time.perf_counter() - write_start, 6), len(encoded)))
    result = WarmResult(
        job_id=job.id, started_at=now, seconds=time.perf_counter() - start, ttl_seconds=job.ttl_seconds,
        entry_bytes={k: len(v.encode()) for k, v in encoded.items()}, timings=computed.timings,
        cache_kind=cache.kind, cache_stats=cache_stats(cache),
        removed=computed.timings[0].rows if job.id == "cache-cleanup" else 0,
    )
    _guard(cache, lambda: cache.set_many({E.job_status_key(job.id): encode(result.status())}, JOB_STATUS_TTL_SECONDS))
    if job.id in WARMING_JOBS:
        notice = encode({"job": job.id, "entries": result.entries, "at": E.iso_ms(now)})
        _guard(cache, lambda: cache.publish(REFRESH_CHANNEL, notice))
    return result


def performance_metrics_entries(cache: Cache, now: datetime) -> E.Computed:
    """``analytics:performance-metrics``: every job's last status (query durations, entries,
    bytes), the seed's JobMetrics aggregates, and the cache's key count and hit/miss counters."""
    out = E.Computed()
    start = time.perf_counter()
    status_keys = _guard(cache, lambda: cache.keys(E.job_status_key("*")))
    statuses = []
    for key in status_keys:
        raw = _guard(cache, lambda k=key: cache.get(k))
        if raw:
            statuses.append(json.loads(raw))
    out.timings.append(E.QueryTiming("read job statuses", round(time.perf_counter() - start, 6), len(statuses)))
    start = time.perf_counter()
    analytics_keys = len(_guard(cache, lambda: cache.keys(E.NAMESPACE + "*")))
    out.timings.append(E.QueryTiming("count keys", round(time.perf_counter() - start, 6), analytics_keys))
    stats = cache_stats(cache)
    hits = stats["keyspace_hits"] if stats else None
    misses = stats["keyspace_misses"] if stats else None
    durations = [s["durationSeconds"] for s in statuses if s.get("durationSeconds") is not None]
    cleanup = next((s for s in statuses if s["id"] == "cache-cleanup"), None)
    out.entries[E.PERFORMANCE_METRICS_KEY] = {
        "generatedAt": E.iso_ms(now),
        "backend": cache.kind,
        "totalJobs": len(JOBS),
        "successfulJobs": sum(1 for s in statuses if s["status"] == "completed"),
        "failedJobs": sum(1 for s in statuses if s["status"] == "failed"),
        "averageJobDuration": round(sum(durations) / len(durations), 4) if durations else None,
        "lastCleanup": cleanup["lastRun"] if cleanup else None,
        "entries": sum(s.get("entries", 0) for s in statuses),
        "bytes": sum(s.get("bytes", 0) for s in statuses),
        "cache": {
            "analyticsKeys": analytics_keys, "hits": hits, "misses": misses,
            "hitRate": round(hits / (hits + misses), 4) if hits is not None and (hits + misses) else None,
        },
        "jobs": sorted(statuses, key=lambda s: s["id"]),
    }
    return out


def warm_all(warehouse: Warehouse, cache: Cache, now: datetime | None = None) -> dict[str, Any]:
    """Run every warming job once, then performance-metrics. Returns ``{"jobs": {id: {"entries",
    "bytes", "seconds"}}, "entries": total, "bytes": total, "seconds": total, "keys": [every
    key written, sorted]}`` (``make demo`` prints a few keys from it)."""
    now = now or datetime.now(timezone.utc)
    start = time.perf_counter()
    jobs: dict[str, dict[str, Any]] = {}
    keys: list[str] = []
    for job_id in (*WARMING_JOBS, "performance-metrics"):
        result = warm_job(job_id, warehouse, cache, now)
        jobs[job_id] = {"entries": result.entries, "bytes": result.bytes, "seconds": round(result.seconds, 4)}
        keys += result.entry_bytes
    return {
        "jobs": jobs,
        "entries": sum(j["entries"] for j in jobs.values()),
        "bytes": sum(j["bytes"] for j in jobs.values()),
        "seconds": round(time.perf_counter() - start, 4),
        "keys": sorted(keys),
        "backend": cache.kind,
    }


def invalidate(cache: Cache, pattern: str) -> int:
    """Delete the keys matching the glob ``pattern`` (Redis ``MATCH`` syntax); the number
    deleted. Only ``analytics:`` keys: a pattern outside the namespace is refused, so a shared
    Redis is never emptied by mistake."""
    if not pattern.startswith(E.NAMESPACE):
        raise ValueError(f"pattern {pattern!r} must start with {E.NAMESPACE!r}")
    return _guard(cache, lambda: cache.delete_pattern(pattern))


def clear_all(cache: Cache) -> int:
    """Delete every ``analytics:`` key (the seed's clearCache)."""
    return invalidate(cache, E.NAMESPACE + "*")


def jobs_to_refresh(grain: str, periods: Iterable[date], today: date) -> list[str]:
    """The warming jobs whose entries include one of the re-aggregated ``periods``: a day
    (``grain="day"``) in the last 90 full days refreshes the summaries, in the last 30 also
    activity-trends and top-items; a month (``"month"``) in user-growth's 25-month window
    (24 points and the month before, for the first point's growth) refreshes user-growth."""
    jobs: set[str] = set()
    for period in periods:
        if grain == "day":
            if today - timedelta(days=max(E.SUMMARY_DAYS)) <= period < today:
                jobs.add("summary")
            if today - timedelta(days=max(max(E.ACTIVITY_TRENDS_DAYS), E.TOP_ITEMS_DAYS)) <= period < today:
                jobs.update({"activity-trends", "top-items"})
        elif grain == "month":
            current = today.replace(day=1)
            if E.add_months(current, -(max(E.USER_GROWTH_MONTHS) + 1)) <= period < current:
                jobs.add("user-growth")
    return sorted(jobs)
