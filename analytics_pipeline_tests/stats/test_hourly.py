"""hourly_stats: hand-computed hours (fixtures/hourly), a range backfill as one run, the minute-5
schedule, late data rebuilding built hours, and retention deleting hours with the raw events;
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline.definitions import defs
from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.retention.run import run_retention
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.stats.definitions import hourly_stats, hourly_stats_job, late_data_sensor, schedules
from analytics_pipeline.stats.hourly import build_hours, dirty_hours, hour_from_key, previous_hour_key, read_hours
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.stats.helpers import drop, ingest, sessionise

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hourly"
EXPECTED = json.loads((FIXTURES / "hours.expected.json").read_text(encoding="utf-8"))
FIRST, LAST = EXPECTED["range"]


def _load(landing_dir: Path, resources: dict, instance: dg.DagsterInstance) -> Warehouse:
    lines = (FIXTURES / "hours.jsonl").read_text(encoding="utf-8").splitlines()
    drop(landing_dir, "hours.jsonl", [json.loads(line) for line in lines])
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success
    return resources["warehouse"].get()


def _load_plain(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    """The same events without Dagster (for tests of the plain functions)."""
    lines = (FIXTURES / "hours.jsonl").read_text(encoding="utf-8").splitlines()
    drop(landing_dir, "hours.jsonl", [json.loads(line) for line in lines])
    ingest(warehouse, landing_dir, datetime(2024, 3, 10, tzinfo=timezone.utc))
    sessionise(warehouse, datetime(2024, 3, 10, tzinfo=timezone.utc))
    return warehouse


def _stored(wh: Warehouse) -> dict[str, dict[str, list[int]]]:
    out: dict[str, dict[str, list[int]]] = {}
    for r in read_hours(wh, datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, tzinfo=timezone.utc)):
        key = r["hour_start"].strftime("%Y-%m-%d-%H:%M")
        out.setdefault(key, {})[r["website_id"]] = [r["total_pageviews"], r["total_custom_events"],
                                                    r["unique_visitors"], r["unique_sessions"]]
    return out


def test_a_range_of_hours_is_one_run_with_the_hand_computed_values(landing_dir, resources, instance):
    wh = _load(landing_dir, resources, instance)

    result = dg.materialize([hourly_stats], resources=resources, instance=instance,
                            tags={"dagster/asset_partition_range_start": FIRST,
                                  "dagster/asset_partition_range_end": LAST})

    assert result.success
    assert _stored(wh) == EXPECTED["hours"]
    runs = instance.get_runs()
    assert len([r for r in runs if r.tags.get("dagster/asset_partition_range_start") == FIRST]) == 1
    materialized = instance.get_materialized_partitions(dg.AssetKey("hourly_stats"))
    assert len(materialized) == 25
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]
    assert dirty_hours(wh) == []  # building cleared the late-data marks of the hours


def test_rebuilding_hours_replaces_them(warehouse, landing_dir):
    wh = _load_plain(warehouse, landing_dir)
    start, end = hour_from_key(FIRST), hour_from_key(LAST) + timedelta(hours=1)

    build_hours(wh, start, end)
    build_hours(wh, start, end)

    assert _stored(wh) == EXPECTED["hours"]


def test_the_schedule_asks_for_the_hour_that_just_ended():
    schedule = {s.name: s for s in schedules}["hourly_aggregation_schedule"]

    assert schedule.cron_schedule == "5 * * * *"
    assert previous_hour_key(datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc)) == "2024-03-01-09:00"
    assert previous_hour_key(datetime(2024, 3, 2, 0, 5, tzinfo=timezone.utc)) == "2024-03-01-23:00"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc))
        request = schedule.evaluate_tick(context).run_requests[0]
        assert request.partition_key == "2024-03-01-09:00"


def test_a_tick_that_meets_a_running_run_is_queued_not_dropped(instance):
    schedule = {s.name: s for s in schedules}["hourly_aggregation_schedule"]
    instance.add_run(dg.DagsterRun(job_name=hourly_stats_job.name, run_id="abcdef0123456789",
                                   status=dg.DagsterRunStatus.STARTED))
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                        scheduled_execution_time=datetime(2024, 3, 1, 10, 5, tzinfo=timezone.utc))

    (request,) = schedule.evaluate_tick(context).run_requests

    assert request.partition_key == "2024-03-01-09:00"
    assert "queued behind run abcdef01" in " ".join(request.tags.values())


def test_late_data_rebuilds_only_built_hours(landing_dir, resources, instance):
    wh = _load(landing_dir, resources, instance)
    assert dg.materialize([hourly_stats], resources=resources, instance=instance, partition_key="2024-03-01-09:00").success
    drop(landing_dir, "late.jsonl", [
        {"event_id": "late-1", "website_id": "a", "session_id": "s7", "visitor_id": "v7", "event_type": "pageview",
         "url_path": "/", "occurred_at": "2024-03-01T09:45:00Z"},
        {"event_id": "late-2", "website_id": "a", "session_id": "s8", "visitor_id": "v8", "event_type": "pageview",
         "url_path": "/", "occurred_at": "2024-03-01T15:45:00Z"},  # an hour never built
    ])
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success
    marked = {m["hour_start"].strftime("%Y-%m-%d-%H:%M") for m in dirty_hours(wh)}
    assert {"2024-03-01-09:00", "2024-03-01-15:00"} <= marked

    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = late_data_sensor(context)

    requests = result if isinstance(result, list) else []
    hourly = [r for r in requests if r.job_name == hourly_stats_job.name]
    assert [r.partition_key for r in hourly] == ["2024-03-01-09:00"]
    assert dg.materialize([hourly_stats], resources=resources, instance=instance,
                          partition_key=hourly[0].partition_key).success
    assert _stored(wh)["2024-03-01-09:00"] == {"a": [3, 1, 3, 3]}


def test_retention_deletes_hours_with_the_raw_events(warehouse, landing_dir):
    wh = _load_plain(warehouse, landing_dir)
    build_hours(wh, hour_from_key(FIRST), hour_from_key(LAST) + timedelta(hours=1))
    from analytics_pipeline.stats.build import build_period

    for grain, day in [("day", date(2024, 3, 1)), ("day", date(2024, 3, 2)), ("week", date(2024, 2, 26)),
                       ("month", date(2024, 3, 1))]:
        build_period(wh, grain, day)

    result = run_retention(wh, materialized={"day": ["2024-03-01", "2024-03-02"], "week": ["2024-02-26"],
                                             "month": ["2024-03-01"]},
                           retention_days=1, today=date(2024, 3, 3), pause_seconds=0, log=lambda _m: None)

    assert result.days_dropped == [date(2024, 3, 1)]
    assert result.hourly_stats_deleted == 4
    assert sorted(_stored(wh)) == ["2024-03-02-00:00"]


@pytest.mark.parametrize("key", ["2024-03-01-09:00"])
def test_hour_keys_round_trip(key):
    from analytics_pipeline.stats.hourly import hour_key

    assert hour_key(hour_from_key(key)) == key


def test_intraday_series_for_charts(warehouse, landing_dir):
    from analytics_pipeline.stats.hourly import intraday, today_so_far

    wh = _load_plain(warehouse, landing_dir)
    build_hours(wh, hour_from_key(FIRST), hour_from_key(LAST) + timedelta(hours=1))

    site = intraday(wh, hour_from_key("2024-03-01-08:00"), hour_from_key("2024-03-01-11:00"), website="a")
    combined = today_so_far(wh, datetime(2024, 3, 1, 23, 40, tzinfo=timezone.utc))

    assert [(p["hour"], p["pageviews"], p["customEvents"], p["uniqueVisitors"]) for p in site["series"]] == [
        ("2024-03-01T08:00:00Z", 0, 0, 0), ("2024-03-01T09:00:00Z", 2, 1, 2), ("2024-03-01T10:00:00Z", 1, 0, 1)]
    assert combined["totals"] == {"pageviews": 4, "customEvents": 1}  # 07, 09, 10 h; 23 h still running
    assert len(combined["series"]) == 23
    json.dumps(combined)


def test_late_data_over_consecutive_built_hours_is_one_range_run(landing_dir, resources, instance):
    wh = _load(landing_dir, resources, instance)
    assert dg.materialize([hourly_stats], resources=resources, instance=instance,
                          tags={"dagster/asset_partition_range_start": FIRST,
                                "dagster/asset_partition_range_end": LAST}).success
    drop(landing_dir, "late.jsonl", [
        {"event_id": f"late-{h}", "website_id": "a", "session_id": f"s{h}", "visitor_id": "v7", "event_type": "pageview",
         "url_path": "/", "occurred_at": f"2024-03-01T{h:02d}:30:00Z"} for h in (9, 10, 11, 20)])
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success

    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = late_data_sensor(context)
        requests = [r for r in (result if isinstance(result, list) else []) if r.job_name == hourly_stats_job.name]

    assert sorted(((r.partition_key, r.tags.get("dagster/asset_partition_range_start"),
                    r.tags.get("dagster/asset_partition_range_end")) for r in requests), key=str) == [
        ("2024-03-01-20:00", None, None), (None, "2024-03-01-09:00", "2024-03-01-11:00")]
    assert dirty_hours(wh)  # marks stay until the hours are rebuilt
