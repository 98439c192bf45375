"""Dagster wiring of the warmed dashboard cache: one asset per family of entries, one refresh job
that a one-minute sensor launches for whatever is due (each entry keeps its own interval and
TTL from :mod:`analytics_pipeline.cache.warm`), the 30-second performance-metrics sensor that
refreshes its entry without a run, and the invalidate job."""

import json
import time
from datetime import date, datetime, timezone

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.cache.backends import CacheUnavailable
from analytics_pipeline.cache.warm import JOBS, WarmResult, invalidate, jobs_to_refresh, warm_job
from analytics_pipeline.metrics.spec import load_metrics
from analytics_pipeline.orchestration import (
    OWNER,
    REASON_TAG,
    SINGLETON_TAG,
    TRIGGER_TAG,
    active_run,
    job_tags,
    markdown_table,
    warehouse_kind,
)
from analytics_pipeline.resources import CacheResource, WarehouseResource

# Redis down: fail visibly after two retries (5 s, then 10 s); entries already cached keep
# serving until their TTL, and they stay due, so the refresh sensor's next run heals them.
CACHE_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)

# job id -> upstream assets its entries are read from (intervals and TTLs: warm.JOBS)
WIRING = {
    "user-growth": ["monthly_stats"],
    "activity-trends": ["daily_stats"],
    "top-items": ["daily_stats", "raw_events"],
    "recent-activity": ["raw_events"],
    "summary": ["daily_stats", "raw_events"],
    "metric": [dg.AssetKey(["metrics", m.name]) for m in load_metrics(settings.metrics_dir()).metrics],
    "performance-metrics": [],
    "cache-cleanup": [],
}


def asset_name(job_id: str) -> str:
    """``user-growth`` -> ``cache_user_growth``; ``cache-cleanup`` -> ``cache_cleanup``."""
    name = job_id.replace("-", "_")
    return name if name.startswith("cache_") else "cache_" + name


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
    deps = WIRING[job_id]
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
# Everything the refresh sensor refreshes; performance-metrics is refreshed by its own sensor.
REFRESHED = [job_id for job_id in JOBS if job_id != "performance-metrics"]
REFRESH_JOB_NAME = "cache_refresh_job"
ENTRIES_TAG = "analytics/cache_entries"
cache_refresh_job = dg.define_asset_job(
    REFRESH_JOB_NAME,
    selection=dg.AssetSelection.assets(*(asset_name(j) for j in REFRESHED)),
    description="Refresh the warmed cache entries that are due, in one run: the refresh sensor "
    "selects them (each by its own interval, or because statistics they include were re-built).",
    tags=job_tags(REFRESH_JOB_NAME),
)
# The sensor ticks every minute; an entry refreshed up to half a tick early is due, so a 2-minute
# entry is refreshed every 2 minutes rather than every 3.
REFRESH_TICK_SECONDS = 60
DUE_SLACK_SECONDS = REFRESH_TICK_SECONDS // 2


def due_entries(last_refreshed: dict[str, float | None], now: float) -> list[str]:
    """The refreshed entries whose own interval has passed since their last materialization
    (never materialized: due), in the order of ``JOBS``."""
    due = []
    for job_id in REFRESHED:
        last = last_refreshed.get(job_id)
        if last is None or now - last >= JOBS[job_id].interval_seconds - DUE_SLACK_SECONDS:
            due.append(job_id)
    return due


def _last_refreshed(instance: dg.DagsterInstance) -> dict[str, float | None]:
    keys = {dg.AssetKey(asset_name(j)): j for j in REFRESHED}
    out: dict[str, float | None] = dict.fromkeys(REFRESHED)
    for record in instance.get_asset_records(list(keys)):
        last = record.asset_entry.last_materialization
        if last is not None:
            out[keys[record.asset_entry.asset_key]] = last.timestamp
    return out


def _every(seconds: int) -> str:
    return f"every {seconds // 3600} h" if seconds >= 3600 else f"every {seconds // 60} min"


@dg.sensor(
    name="cache_performance_metrics_sensor",
    minimum_interval_seconds=JOBS["performance-metrics"].interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s (cron cannot go below a minute): refresh analytics:performance-metrics "
    "in the sensor itself and record it as a materialization of cache_performance_metrics (a run "
    "every 30 s would cost more than the work). With the cache down the tick fails visibly and "
    "the next one heals.",
)
def cache_performance_metrics_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, cache: CacheResource
):
    result = warm_job("performance-metrics", warehouse.get(), cache.get())
    return dg.SensorResult(
        asset_events=[dg.AssetMaterialization(asset_key=asset_name("performance-metrics"),
                                              metadata=_metadata(result, cache.redis_url))],
        skip_reason=dg.SkipReason(
            f"refreshed analytics:performance-metrics here ({result.entries} entry, {result.bytes} bytes, "
            f"{result.seconds:.3f} s) and recorded it on cache_performance_metrics; no run needed"),
    )


REFRESH_SOURCES = {"daily_stats": "day", "monthly_stats": "month"}


def _rebuilt_statistics(context: dg.SensorEvaluationContext, state: dict) -> tuple[set[str], list[str]]:
    """Entries that include statistics periods (re-)materialized since the cursor, and a short
    description of those periods; moves the cursor in ``state``."""
    today = datetime.now(timezone.utc).date()
    jobs: set[str] = set()
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
                if record.partition_key:
                    periods.add(date.fromisoformat(record.partition_key))
            if not page.has_more:
                break
        refresh = jobs_to_refresh(grain, periods, today)
        if refresh:
            shown = sorted(p.isoformat() for p in periods)
            seen.append(f"{asset} {', '.join(shown[:3])}" + (" ..." if len(shown) > 3 else ""))
        jobs.update(refresh)
        if after is not None:
            state[asset] = after
    return jobs, seen


@dg.sensor(
    name="cache_refresh_sensor",
    job=cache_refresh_job,
    minimum_interval_seconds=REFRESH_TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute, one run refreshes every warmed entry that is due: each by its own "
    "interval (recent-activity 2 min, activity-trends and summary 5 min, user-growth 10 min, "
    "top-items 15 min, cache-cleanup 1 h; from its last materialization), and at once the entries "
    "that include daily_stats or monthly_stats partitions re-built since the last tick. Never two "
    "refresh runs at a time: while one is going the tick waits and remembers what was re-built.",
)
def cache_refresh_sensor(context: dg.SensorEvaluationContext):
    state = json.loads(context.cursor) if context.cursor else {}
    rebuilt, seen = _rebuilt_statistics(context, state)
    pending = set(state.get("pending", [])) | rebuilt
    running = active_run(context.instance, REFRESH_JOB_NAME)
    if running is not None:
        state["pending"] = sorted(pending)
        return dg.SensorResult(
            skip_reason=f"refresh run {running.run_id[:8]} is still {running.status.value.lower()}"
            + (f"; after it: {', '.join(sorted(pending))} (statistics re-built)" if pending else ""),
            cursor=json.dumps(state, sort_keys=True))
    due = due_entries(_last_refreshed(context.instance), time.time())
    selected = [j for j in REFRESHED if j in pending or j in due]
    state["pending"] = []
    cursor = json.dumps(state, sort_keys=True)
    if not selected:
        return dg.SensorResult(skip_reason="no entry is due yet and no statistics were re-built",
                               cursor=cursor)
    reasons = []
    on_interval = [j for j in selected if j in due]
    if on_interval:
        reasons.append("due: " + ", ".join(f"{j} ({_every(JOBS[j].interval_seconds)})" for j in on_interval))
    if pending:
        reasons.append("statistics re-built: " + ("; ".join(seen) or ", ".join(sorted(pending))))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(
            asset_selection=[dg.AssetKey(asset_name(j)) for j in selected],
            tags={SINGLETON_TAG: REFRESH_JOB_NAME, TRIGGER_TAG: "cache_refresh_sensor",
                  REASON_TAG: "; ".join(reasons)[:250], ENTRIES_TAG: ",".join(selected)},
        )],
        cursor=cursor,
    )


class InvalidateConfig(dg.Config):
    pattern: str = "analytics:*"
    """Glob (Redis MATCH syntax) of the keys to delete; must start with ``analytics:``.
    The default clears every analytics key."""


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
    jobs=[cache_refresh_job, cache_invalidate_job],
    sensors=[cache_performance_metrics_sensor, cache_refresh_sensor],
)
