"""Dagster wiring of the warmed dashboard cache: one asset and one job per seed job, their
schedules (performance-metrics: a 30-second sensor), the refresh-on-restatement sensor, and the
invalidate job. The logic is in :mod:`analytics_pipeline.cache.warm`."""

import json
from datetime import date, datetime, timezone

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.cache.backends import CacheUnavailable
from analytics_pipeline.cache.warm import JOBS, WarmResult, invalidate, jobs_to_refresh, warm_job
from analytics_pipeline.orchestration import (
    OWNER,
    SINGLETON_TAG,
    job_tags,
    markdown_table,
    non_overlapping_schedule,
    skip_if_running,
    warehouse_kind,
)
from analytics_pipeline.resources import CacheResource, WarehouseResource

# Redis down: fail visibly after two retries (5 s, then 10 s); entries already cached keep
# serving until their TTL, and the schedules' next tick heals everything once Redis is back.
CACHE_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)

# job id -> (upstream assets its entries are read from, cron or None for the sensor)
WIRING = {
    "user-growth": (["monthly_stats"], "*/10 * * * *"),
    "activity-trends": (["daily_stats"], "*/5 * * * *"),
    "top-items": (["daily_stats", "raw_events"], "*/15 * * * *"),
    "recent-activity": (["raw_events"], "*/2 * * * *"),
    "summary": (["daily_stats", "raw_events"], "*/5 * * * *"),
    "performance-metrics": ([], None),
    "cache-cleanup": ([], "0 * * * *"),
}


def asset_name(job_id: str) -> str:
    """``user-growth`` -> ``cache_user_growth``; ``cache-cleanup`` -> ``cache_cleanup``."""
    name = job_id.replace("-", "_")
    return name if name.startswith("cache_") else "cache_" + name


def job_name(job_id: str) -> str:
    return asset_name(job_id) + "_job"


def _cache_kind() -> str:
    return "redis" if settings.redis_url() else warehouse_kind()


def _metadata(result: WarmResult, cache_url: str) -> dict:
    entries = [{"key": k, "bytes": b} for k, b in sorted(result.entry_bytes.items())]
    queries = [{"step": t.name, "seconds": t.seconds, "rows": t.rows} for t in result.timings]
    stats = result.cache_stats or {}
    return {
        "dagster/row_count": result.entries,
        "entries_written": result.entries,
        "bytes_written": result.bytes,
        "ttl_seconds": result.ttl_seconds,
        "duration_seconds": round(result.seconds, 4),
        "cache_backend": result.cache_kind,
        "cache_target": "embedded cache_entries table" if not cache_url else cache_url.split("@")[-1],
        "cache_hits": stats.get("keyspace_hits", dg.MetadataValue.null()) if stats else dg.MetadataValue.null(),
        "cache_misses": stats.get("keyspace_misses", dg.MetadataValue.null()) if stats else dg.MetadataValue.null(),
        "expired_entries_removed": result.removed,
        "query_durations": dg.MetadataValue.md(markdown_table(queries, limit=50)),
        "keys_preview": dg.MetadataValue.md(markdown_table(entries, limit=30)),
    }


def _cache_asset(job_id: str) -> dg.AssetsDefinition:
    job = JOBS[job_id]
    deps, _cron = WIRING[job_id]
    if job_id == "performance-metrics":
        deps = [asset_name(j) for j in ("user-growth", "activity-trends", "top-items", "recent-activity", "summary")]

    @dg.asset(
        name=asset_name(job_id),
        group_name="cache",
        deps=deps,
        kinds={"python", _cache_kind()},
        owners=[OWNER],
        retry_policy=CACHE_RETRY_POLICY,
        description=(
            f"Cache job `{job.id}` ({job.name}): {job.description}. Each entry is one JSON value "
            f"under `{job.keys}` for every website and for `all`, TTL {job.ttl_seconds} s "
            f"(refreshed every {job.interval_seconds} s). See docs/cache.md for the shapes."
        ),
        metadata={"cache/keys": job.keys, "cache/ttl_seconds": job.ttl_seconds,
                  "cache/interval_seconds": job.interval_seconds},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
               cache: CacheResource) -> dg.MaterializeResult:
        try:
            result = warm_job(job_id, warehouse.get(), cache.get())
        except CacheUnavailable as exc:
            raise CacheUnavailable(
                f"cache job {job_id}: the {'Redis' if cache.redis_url else 'embedded'} cache is "
                f"unavailable ({exc}); entries already cached keep serving until their TTL, and "
                "this asset retries and heals on the next tick"
            ) from exc
        context.log.info(f"{job_id}: {result.entries} entries, {result.bytes} bytes in {result.seconds:.3f}s")
        return dg.MaterializeResult(metadata=_metadata(result, cache.redis_url))

    return _asset


CACHE_ASSETS = {job_id: _cache_asset(job_id) for job_id in JOBS}
CACHE_JOBS = {
    job_id: dg.define_asset_job(
        job_name(job_id),
        selection=dg.AssetSelection.assets(asset_name(job_id)),
        description=f"Warm cache job `{job_id}`: {JOBS[job_id].description}.",
        tags=job_tags(job_name(job_id)),
    )
    for job_id in JOBS
}

cache_schedules = [
    non_overlapping_schedule(
        CACHE_JOBS[job_id], cron, name=f"{asset_name(job_id)}_schedule",
        description=f"Refresh interval of `{job_id}` ({JOBS[job_id].interval_seconds} s); skips while "
        "its previous run is going.",
    )
    for job_id, (_deps, cron) in WIRING.items()
    if cron is not None
]


@dg.sensor(
    minimum_interval_seconds=JOBS["performance-metrics"].interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s (cron cannot go below a minute): refresh analytics:performance-metrics "
    "in the sensor itself and record it as a materialization of cache_performance_metrics (a run "
    "every 30 s would cost more than the work). Skips while a manual run of its job is going; "
    "with the cache down the tick fails visibly and the next one heals.",
)
def cache_performance_metrics_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, cache: CacheResource
):
    skip = skip_if_running(context.instance, CACHE_JOBS["performance-metrics"].name)
    if skip is not None:
        return skip
    result = warm_job("performance-metrics", warehouse.get(), cache.get())
    # Say what the tick did: a result with only asset events shows as "returned an empty result".
    return dg.SensorResult(
        asset_events=[dg.AssetMaterialization(asset_key=asset_name("performance-metrics"),
                                              metadata=_metadata(result, cache.redis_url))],
        skip_reason=f"refreshed analytics:performance-metrics ({result.entries} entr"
                    f"{'y' if result.entries == 1 else 'ies'}; recorded as a materialization, no run needed)",
    )


REFRESH_SOURCES = {"daily_stats": "day", "monthly_stats": "month"}


@dg.sensor(
    jobs=[CACHE_JOBS[j] for j in ("summary", "activity-trends", "top-items", "user-growth")],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When daily_stats or monthly_stats partitions are (re-)materialized, re-warms the "
    "entries that include them (summary, activity-trends, top-items; user-growth for months). A job "
    "still running is remembered in the cursor and launched once it finishes.",
)
def cache_refresh_sensor(context: dg.SensorEvaluationContext):
    state = json.loads(context.cursor) if context.cursor else {}
    pending = set(state.get("pending", []))
    today = datetime.now(timezone.utc).date()
    seen = []
    for asset, grain in REFRESH_SOURCES.items():
        after = state.get(asset)
        periods: set[date] = set()
        while True:
            page = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after),
                limit=1000, ascending=True)
            for record in page.records:
                after = record.storage_id
                partition = record.partition_key
                if partition:
                    periods.add(date.fromisoformat(partition))
            if not page.has_more:
                break
        if periods:
            seen.append(f"{asset}: {', '.join(sorted(p.isoformat() for p in periods)[:5])}"
                        + (" ..." if len(periods) > 5 else ""))
        pending.update(jobs_to_refresh(grain, periods, today))
        if after is not None:
            state[asset] = after
    requests, waiting = [], []
    for job_id in sorted(pending):
        job = CACHE_JOBS[job_id]
        if skip_if_running(context.instance, job.name) is not None:
            waiting.append(job_id)
            continue
        requests.append(dg.RunRequest(
            job_name=job.name,
            tags={SINGLETON_TAG: job.name, "analytics/trigger": "cache_refresh_sensor",
                  "analytics/reason": "; ".join(seen)[:200] or "pending refresh"},
        ))
    state["pending"] = waiting
    cursor = json.dumps(state, sort_keys=True)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    reason = (f"waiting for running job(s) {', '.join(waiting)}" if waiting
              else "no re-materialized statistics inside a cached window")
    return dg.SensorResult(skip_reason=reason, cursor=cursor)


class InvalidateConfig(dg.Config):
    pattern: str = "analytics:*"
    """Glob (Redis MATCH syntax) of the keys to delete; must start with ``analytics:``.
    The default clears every analytics key (the seed's clearCache)."""


@dg.op(description="Delete the cache keys matching `pattern` (default: every analytics: key).")
def invalidate_cache_entries(context: dg.OpExecutionContext, config: InvalidateConfig,
                             cache: CacheResource) -> dg.Output[int]:
    removed = invalidate(cache.get(), config.pattern)
    context.log.info(f"deleted {removed} key(s) matching {config.pattern!r}")
    return dg.Output(removed, metadata={"pattern": config.pattern, "keys_deleted": removed})


@dg.job(
    description="Invalidate warmed entries by pattern (run config `ops: invalidate_cache_entries: "
    "config: pattern: 'analytics:summary:*'`); the default pattern clears all analytics keys.",
    tags=job_tags("cache_invalidate_job"),
)
def cache_invalidate_job():
    invalidate_cache_entries()


defs = dg.Definitions(
    assets=list(CACHE_ASSETS.values()),
    jobs=[*CACHE_JOBS.values(), cache_invalidate_job],
    schedules=cache_schedules,
    sensors=[cache_performance_metrics_sensor, cache_refresh_sensor],
)
