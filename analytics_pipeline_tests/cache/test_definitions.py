"""The Dagster layer: assets, jobs, schedules and sensors of the cache, on real runs."""

from __future__ import annotations

import json
import dagster as dg
import pytest

from analytics_pipeline.cache import definitions as cache_defs
from analytics_pipeline.cache.backends import EmbeddedCache, RedisCache
from analytics_pipeline.cache.definitions import CACHE_ASSETS, cache_invalidate_job
from analytics_pipeline.cache.warm import JOBS
from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.resources import CacheResource
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.stats.definitions import daily_stats
from analytics_pipeline_tests.cache.conftest import EVENTS, TODAY, day, make_event
from analytics_pipeline_tests.factories import write_jsonl

SUMMARY_7 = f"analytics:summary:{day(7).isoformat()}T00:00:00.000Z:{TODAY.isoformat()}T00:00:00.000Z"


def with_cache(resources, redis_url=""):
    return {**resources, "cache": CacheResource(redis_url=redis_url, warehouse=resources["warehouse"])}


def started_run(instance, job_name):
    run = dg.DagsterRun(job_name=job_name, status=dg.DagsterRunStatus.STARTED,
                        tags={"analytics/singleton": job_name})
    instance.add_run(run)
    return run


def test_every_seed_job_is_refreshed_by_one_sensor_at_its_own_interval():
    from analytics_pipeline.definitions import defs

    repo = defs.get_repository_def()
    assert not [s for s in repo.schedule_defs if s.name.startswith("cache_")]
    sensors = {s.name: s for s in repo.sensor_defs}
    assert sensors["cache_performance_metrics_sensor"].minimum_interval_seconds == 30
    assert sensors["cache_refresh_sensor"].minimum_interval_seconds == 60
    assert sensors["cache_refresh_sensor"].job_name == "cache_refresh_job"
    intervals = {job_id: JOBS[job_id].interval_seconds for job_id in cache_defs.REFRESHED}
    assert intervals == {"user-growth": 600, "activity-trends": 300, "top-items": 900,
                         "recent-activity": 120, "summary": 300, "cache-cleanup": 3600, "metric": 900}
    for job_id in JOBS:
        assert JOBS[job_id].ttl_seconds > JOBS[job_id].interval_seconds
    refresh = repo.get_job("cache_refresh_job")
    assert {k.to_user_string() for k in refresh.asset_layer.executable_asset_keys} == {
        cache_defs.asset_name(j) for j in cache_defs.REFRESHED}
    graph = repo.asset_graph
    assert dg.AssetKey("daily_stats") in graph.get(dg.AssetKey("cache_summary")).parent_keys
    assert dg.AssetKey("monthly_stats") in graph.get(dg.AssetKey("cache_user_growth")).parent_keys
    assert CACHE_ASSETS["summary"].get_asset_spec().group_name == "cache"
    assert CACHE_ASSETS["summary"].op.retry_policy.max_retries == 2
    assert repo.has_job("cache_invalidate_job")


def test_cache_assets_materialize_with_metadata(populated, resources, instance):
    result = dg.materialize(list(CACHE_ASSETS.values()), resources=resources, instance=instance)

    assert result.success
    cache = EmbeddedCache(populated)
    assert json.loads(cache.get(SUMMARY_7))["totalEvents"] == 6
    meta = result.asset_materializations_for_node("cache_summary")[0].metadata
    assert meta["entries_written"].value == 3 and meta["bytes_written"].value > 0
    assert "select_cache_unique_visitors" in meta["query_durations"].value
    assert meta["ttl_seconds"].value == 900
    metrics = json.loads(cache.get("analytics:performance-metrics"))
    assert {j["id"] for j in metrics["jobs"]} >= {"summary", "top-items"}


def test_redis_down_fails_only_the_cache_and_the_next_run_heals(warehouse, resources, instance, landing_dir, redis_url):
    write_jsonl(landing_dir / "events.jsonl", [make_event(*r) for r in EVENTS])
    down = with_cache(resources, "redis://127.0.0.1:1/0")
    partition = day(1).isoformat()

    result = dg.materialize(
        [raw_events, sessions, daily_stats, CACHE_ASSETS["summary"]],
        resources=down, instance=instance, partition_key=partition, raise_on_error=False,
    )

    assert not result.success
    assert result.asset_materializations_for_node("raw_events")
    assert result.asset_materializations_for_node("sessions")
    assert result.asset_materializations_for_node("daily_stats")
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == ["cache_summary"]
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2  # the retry policy ran before the step failed for good
    chain, error = [], failures[0].step_failure_data.error
    while error is not None:
        chain.append(error)
        error = error.cause
    unavailable = next(e for e in chain if e.cls_name == "CacheUnavailable")
    assert "Redis cache is unavailable" in unavailable.message and "127.0.0.1:1" in unavailable.message

    healed = dg.materialize([CACHE_ASSETS["summary"]], resources=with_cache(resources, redis_url),
                            instance=instance)
    assert healed.success
    assert json.loads(RedisCache(redis_url).get(SUMMARY_7))["totalEvents"] == 6


def _selected(result) -> list[str]:
    """The entries (job ids) the refresh sensor's one run request selects."""
    [request] = result.run_requests
    return request.tags["analytics/cache_entries"].split(",")


def _materialize_selected(result, resources, instance):
    [request] = result.run_requests
    assets = [CACHE_ASSETS[j] for j in _selected(result)]
    assert sorted(a.key for a in assets) == sorted(request.asset_selection)
    assert dg.materialize(assets, resources=resources, instance=instance).success


def test_refresh_sensor_re_warms_after_a_day_is_re_materialized(populated, resources, instance, landing_dir):
    sensor = cache_defs.cache_refresh_sensor
    first = sensor(dg.build_sensor_context(instance=instance))
    assert _selected(first) == cache_defs.REFRESHED  # nothing refreshed yet: everything is due
    _materialize_selected(first, resources, instance)
    cache = EmbeddedCache(populated)
    assert json.loads(cache.get(SUMMARY_7))["totalEvents"] == 6
    quiet = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert not quiet.run_requests and "no entry is due" in quiet.skip_reason.skip_message
    # a late event for yesterday; the statistics for yesterday are re-materialized
    late = make_event("site-b", "v9", "b9", "custom", "signup", None, f"{day(1).isoformat()}T20:00:00Z")
    write_jsonl(landing_dir / "late.jsonl", [late])
    dg.materialize([raw_events, sessions, daily_stats], resources=resources, instance=instance,
                   partition_key=day(1).isoformat())

    result = sensor(dg.build_sensor_context(instance=instance, cursor=quiet.cursor))

    assert _selected(result) == ["activity-trends", "top-items", "summary"]
    [request] = result.run_requests
    assert request.tags["analytics/trigger"] == "cache_refresh_sensor"
    assert f"daily_stats {day(1).isoformat()}" in request.tags["analytics/reason"]
    _materialize_selected(result, resources, instance)
    assert json.loads(cache.get(SUMMARY_7)) == {"totalEvents": 7, "uniqueUsers": 3,
                                                "eventsByType": {"pageview": 5, "signup": 2}}
    # the cursor moved on: nothing more to refresh
    again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert not again.run_requests and "no entry is due" in again.skip_reason.skip_message


def test_each_entry_is_due_by_its_own_interval():
    now = 1_000_000.0
    refreshed = {j: now for j in cache_defs.REFRESHED}
    assert cache_defs.due_entries(refreshed, now) == []
    assert cache_defs.due_entries(refreshed, now + 100) == ["recent-activity"]  # 2 min, half a tick early
    assert cache_defs.due_entries(refreshed, now + 300) == ["activity-trends", "recent-activity", "summary"]
    assert cache_defs.due_entries(refreshed, now + 600) == [
        "user-growth", "activity-trends", "recent-activity", "summary"]
    assert cache_defs.due_entries(refreshed, now + 3600) == cache_defs.REFRESHED
    assert cache_defs.due_entries({**refreshed, "top-items": None}, now) == ["top-items"]


def test_refresh_sensor_waits_for_a_running_refresh_and_remembers(populated, resources, instance):
    first = cache_defs.cache_refresh_sensor(dg.build_sensor_context(instance=instance))
    _materialize_selected(first, resources, instance)
    dg.materialize([daily_stats], resources=resources, instance=instance, partition_key=day(1).isoformat())
    run = started_run(instance, "cache_refresh_job")

    waiting = cache_defs.cache_refresh_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))

    assert not waiting.run_requests and run.run_id[:8] in waiting.skip_reason.skip_message
    assert json.loads(waiting.cursor)["pending"] == ["activity-trends", "summary", "top-items"]
    instance.report_run_failed(run)
    after = cache_defs.cache_refresh_sensor(dg.build_sensor_context(instance=instance, cursor=waiting.cursor))
    assert _selected(after) == ["activity-trends", "top-items", "summary"]


def test_performance_metrics_sensor_records_without_a_run_and_says_so(populated, resources, instance):
    sensor = cache_defs.cache_performance_metrics_sensor
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    [event] = result.asset_events
    assert event.asset_key == dg.AssetKey("cache_performance_metrics")
    assert event.metadata["entries_written"].value >= 1
    # the tick says what it did (not "returned an empty result" in the UI)
    assert result.skip_reason.skip_message.startswith("refreshed analytics:performance-metrics here (1 entry")
    assert EmbeddedCache(populated).get("analytics:performance-metrics") is not None
    assert "no run needed" in result.skip_reason.skip_message


def test_invalidate_job_by_pattern(populated, resources, instance):
    dg.materialize(list(CACHE_ASSETS.values()), resources=resources, instance=instance)
    cache = EmbeddedCache(populated)

    result = cache_invalidate_job.execute_in_process(
        run_config={"ops": {"invalidate_cache_entries": {"config": {"pattern": "analytics:summary:*"}}}},
        resources={"cache": resources["cache"]}, instance=instance)

    assert result.success and result.output_for_node("invalidate_cache_entries") == 3
    assert cache.keys("analytics:summary:*") == [] and cache.keys("analytics:top-items:*")
    cleared = cache_invalidate_job.execute_in_process(resources={"cache": resources["cache"]}, instance=instance)
    assert cleared.output_for_node("invalidate_cache_entries") > 0
    assert cache.keys("analytics:*") == []
