"""The statistics graph as a data engineer drives it: backfills, schedules, late data, checks."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import orjson
import pytest

from analytics_pipeline.definitions import defs
from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.stats.build import read_period
from analytics_pipeline.stats.definitions import (
    daily_stats,
    late_data_sensor,
    monthly_stats,
    schedules,
    weekly_stats,
    yesterday_is_aggregated,
)
from analytics_pipeline.warehouse import Warehouse

SCHEDULES = {s.name: s for s in schedules}


def _event(n: int, at: str, *, site: str = "site-a", session: str = "s1", visitor: str = "v1",
           path: str = "/", kind: str = "pageview") -> dict:
    event = {"event_id": f"e{n}", "website_id": site, "session_id": session, "visitor_id": visitor,
             "event_type": kind, "occurred_at": at, "url_path": path}
    if kind == "custom":
        event["event_name"] = "signup"
    return event


def _drop(landing: Path, name: str, events: list[dict]) -> None:
    (landing / name).write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


@pytest.fixture
def march(landing_dir: Path, resources: dict, instance: dg.DagsterInstance) -> Warehouse:
    """Three days of events (2024-03-04 is a Monday), ingested and sessionised."""
    _drop(landing_dir, "march.jsonl", [
        _event(1, "2024-03-04T10:00:00Z"),
        _event(2, "2024-03-04T10:05:00Z", path="/pricing"),
        _event(3, "2024-03-05T09:00:00Z", session="s2", visitor="v2"),
        _event(4, "2024-03-05T09:01:00Z", session="s2", visitor="v2", kind="custom"),
        _event(5, "2024-03-06T12:00:00Z", session="s3", visitor="v1", site="site-b"),
    ])
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success
    return resources["warehouse"].get()


def test_a_partition_range_is_one_run_that_builds_every_day(march, resources, instance):
    result = dg.materialize([daily_stats], resources=resources, instance=instance,
                            tags=_range_tags("2024-03-04", "2024-03-06"))
    assert result.success
    runs = instance.get_runs()
    assert len([r for r in runs if r.tags.get("dagster/asset_partition_range_start")]) == 1
    assert {"2024-03-04", "2024-03-05", "2024-03-06"} <= instance.get_materialized_partitions(dg.AssetKey("daily_stats"))
    meta = result.asset_materializations_for_node("daily_stats")
    assert [m.partition for m in meta] == ["2024-03-04", "2024-03-05", "2024-03-06"]
    assert [r["total_pageviews"] for r in read_period(march, "day", datetime(2024, 3, 4).date())] == [2]
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("reconciles_with_raw_events", True)]


@pytest.mark.parametrize(
    ("schedule", "tick", "partition"),
    [
        ("daily_aggregation_schedule", datetime(2024, 3, 2, 1, 0, tzinfo=timezone.utc), "2024-03-01"),
        ("daily_aggregation_schedule", datetime(2024, 3, 1, 1, 0, tzinfo=timezone.utc), "2024-02-29"),
        ("weekly_aggregation_schedule", datetime(2024, 3, 4, 1, 30, tzinfo=timezone.utc), "2024-02-26"),
        ("monthly_aggregation_schedule", datetime(2024, 4, 1, 1, 45, tzinfo=timezone.utc), "2024-03-01"),
        ("monthly_aggregation_schedule", datetime(2025, 1, 1, 1, 45, tzinfo=timezone.utc), "2024-12-01"),
    ],
)
def test_schedule_ticks_request_the_period_that_just_ended(schedule, tick, partition, instance):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    request = SCHEDULES[schedule].evaluate_tick(context).run_requests[0]
    assert request.partition_key == partition


def test_late_event_reaggregates_exactly_the_touched_partitions(march, landing_dir, resources, instance):
    for asset, key in ((daily_stats, "2024-03-04"), (daily_stats, "2024-03-05"),
                       (weekly_stats, "2024-03-04"), (monthly_stats, "2024-03-01")):
        assert dg.materialize([asset], partition_key=key, resources=resources, instance=instance).success
    context = dg.build_sensor_context(instance=instance, resources={"warehouse": resources["warehouse"]})
    assert late_data_sensor(context).skip_message  # nothing stale yet

    _drop(landing_dir, "late.jsonl", [_event(6, "2024-03-04T23:59:00Z", session="s9", visitor="v9", path="/late")])
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success

    requests = late_data_sensor(dg.build_sensor_context(instance=instance,
                                                        resources={"warehouse": resources["warehouse"]}))
    wanted = sorted((r.job_name, r.partition_key) for r in requests)
    # 2024-03-04's day, week and month; not 03-05 (untouched) and not 03-06 (never built).
    assert wanted == [("daily_stats_job", "2024-03-04"), ("monthly_stats_job", "2024-03-01"),
                      ("weekly_stats_job", "2024-03-04")]
    assert all("late data" in r.tags["analytics/reason"] for r in requests)

    for asset, key in ((daily_stats, "2024-03-04"), (weekly_stats, "2024-03-04"), (monthly_stats, "2024-03-01")):
        assert dg.materialize([asset], partition_key=key, resources=resources, instance=instance).success
    wh = march
    day = read_period(wh, "day", datetime(2024, 3, 4).date())[0]
    assert (day["total_pageviews"], day["unique_visitors"], day["sessions_started"]) == (3, 2, 2)
    week = {r["website_id"]: r for r in read_period(wh, "week", datetime(2024, 3, 4).date())}
    assert week["site-a"]["total_pageviews"] == 4 and week["site-a"]["unique_visitors"] == 3
    assert late_data_sensor(dg.build_sensor_context(
        instance=instance, resources={"warehouse": resources["warehouse"]})).skip_message


def test_weekly_check_warns_when_days_are_missing(march, resources, instance):
    assert dg.materialize([daily_stats], partition_key="2024-03-04", resources=resources, instance=instance).success
    result = dg.materialize([weekly_stats], partition_key="2024-03-04", resources=resources, instance=instance)
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "pageviews_equal_sum_of_days" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["mismatches"].value == 2  # site-a misses 03-05, site-b misses 03-06


def test_freshness_check_fails_until_yesterday_is_built(resources, instance):
    result = dg.materialize([daily_stats, yesterday_is_aggregated], resources=resources, instance=instance,
                            selection=dg.AssetSelection.checks(yesterday_is_aggregated),
                            raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed and "behind" in evaluation.description
    yesterday = datetime.now(timezone.utc).date().fromordinal(datetime.now(timezone.utc).date().toordinal() - 1)
    instance.report_runless_asset_event(dg.AssetMaterialization("daily_stats", partition=yesterday.isoformat()))
    result = dg.materialize([daily_stats, yesterday_is_aggregated], resources=resources, instance=instance,
                            selection=dg.AssetSelection.checks(yesterday_is_aggregated))
    assert result.get_asset_check_evaluations()[0].passed


def test_a_tick_before_the_first_partition_skips_instead_of_failing(instance):
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                        scheduled_execution_time=datetime(2024, 1, 1, 1, tzinfo=timezone.utc))
    result = SCHEDULES["daily_aggregation_schedule"].evaluate_tick(context)
    assert not result.run_requests and "2023-12-31" in result.skip_message


def test_a_backfill_of_old_days_does_not_run_the_freshness_check():
    checks = defs.resolve_job_def("daily_stats_job").asset_layer.asset_graph.asset_check_keys
    assert {c.name for c in checks} == {"reconciles_with_raw_events"}
    freshness = defs.resolve_job_def("daily_stats_freshness_job").asset_layer.asset_graph.asset_check_keys
    assert {c.name for c in freshness} == {"yesterday_is_aggregated"}
