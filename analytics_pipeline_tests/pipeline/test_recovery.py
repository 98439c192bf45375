"""Work that failed or ran as a range is not lost: a failed late-data rebuild is requested again,
and every partition of a range run records its own numbers."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import dagster as dg
import orjson
import pytest

from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.stats.definitions import (
    LATE_MARK_TAG,
    daily_stats,
    late_data_sensor,
    retry_delay_seconds,
)

DAY = "2024-03-04"


def _event(n: int, at: str, *, site: str = "site-a", visitor: str = "v1", session: str = "s1",
           path: str = "/") -> dict:
    return {"event_id": f"e{n}", "website_id": site, "session_id": session, "visitor_id": visitor,
            "event_type": "pageview", "occurred_at": at, "url_path": path}


def _drop(landing: Path, name: str, events: list[dict]) -> None:
    (landing / name).write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


def _evaluate(instance, resources):
    return late_data_sensor(dg.build_sensor_context(instance=instance,
                                                    resources={"warehouse": resources["warehouse"]}))


def _record_run(instance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """What the daemon would do with the request: a run with its tags, ended in ``status``."""
    run = instance.add_run(dg.DagsterRun(
        job_name=request.job_name, status=dg.DagsterRunStatus.STARTED,
        tags={**request.tags, "dagster/run_key": request.run_key, "dagster/partition": request.partition_key}))
    if status == dg.DagsterRunStatus.FAILURE:
        instance.report_run_failed(run, "rebuild failed: warehouse unavailable")
    return instance.get_run_by_id(run.run_id)


@pytest.fixture
def stale_day(landing_dir: Path, warehouse, instance: dg.DagsterInstance) -> None:
    """daily_stats of 2024-03-04 built (and recorded as materialized), then a late event for that
    day ingested: its stats_dirty mark is what the late-data sensor reads."""
    _drop(landing_dir, "first.jsonl", [_event(1, "2024-03-04T10:00:00Z")])
    ingest_landing(warehouse, landing_dir)
    update_sessions(warehouse, timeout_minutes=30)
    build_period(warehouse, "day", date(2024, 3, 4))
    instance.report_runless_asset_event(dg.AssetMaterialization("daily_stats", partition=DAY))
    _drop(landing_dir, "late.jsonl", [_event(2, "2024-03-04T23:00:00Z", visitor="v2", session="s2")])
    ingest_landing(warehouse, landing_dir)
    update_sessions(warehouse, timeout_minutes=30)
    assert [m["grain"] for m in warehouse.query("select_stats_dirty")] == ["day", "month", "week"]


def _daily_requests(result) -> list[dg.RunRequest]:
    return [r for r in result if r.job_name == "daily_stats_job"]


def test_a_failed_rebuild_is_requested_again_with_a_new_run_key(stale_day, resources, instance):
    [first] = _daily_requests(_evaluate(instance, resources))
    assert first.partition_key == DAY and first.run_key.endswith(":attempt-1")

    running = _record_run(instance, first, dg.DagsterRunStatus.STARTED)
    waiting = _evaluate(instance, resources)
    assert isinstance(waiting, dg.SkipReason) and running.run_id[:8] in waiting.skip_message

    instance.report_run_failed(running, "rebuild failed: warehouse unavailable")
    [retry] = _daily_requests(_evaluate(instance, resources))

    assert retry.partition_key == DAY
    assert retry.run_key != first.run_key and retry.run_key.endswith(":attempt-2")
    assert retry.tags[LATE_MARK_TAG] == first.tags[LATE_MARK_TAG]
    assert "attempt 2 after 1 failed rebuild" in retry.tags["analytics/reason"]


def test_a_rebuild_that_keeps_failing_backs_off(stale_day, resources, instance):
    [first] = _daily_requests(_evaluate(instance, resources))
    _record_run(instance, first, dg.DagsterRunStatus.FAILURE)
    [second] = _daily_requests(_evaluate(instance, resources))
    _record_run(instance, second, dg.DagsterRunStatus.FAILURE)

    result = _evaluate(instance, resources)

    # every grain's rebuild is in the same state; the daily one waits 2 minutes
    assert not any(isinstance(r, dg.RunRequest) for r in (result if isinstance(result, list) else []))
    assert "daily_stats 2024-03-04 (rebuild failed 2 time(s); next attempt in" in result.skip_message
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4, 7, 20)] == [0, 120, 240, 480, 3600, 3600]


def test_a_successful_rebuild_clears_the_mark(stale_day, resources, instance):
    assert _daily_requests(_evaluate(instance, resources))
    assert dg.materialize([daily_stats], partition_key=DAY, resources=resources, instance=instance).success

    after = _evaluate(instance, resources)

    assert not _daily_requests(after if isinstance(after, list) else [])


def test_each_partition_of_a_range_run_records_its_own_metadata(landing_dir, resources, instance):
    # day d of March holds d pageviews on site-a, and 03-03 also one on site-b
    events, n = [], 0
    for d in (1, 2, 3):
        for k in range(d):
            n += 1
            events.append(_event(n, f"2024-03-0{d}T10:{k:02d}:00Z", path=f"/d{d}"))
    events.append(_event(99, "2024-03-03T11:00:00Z", site="site-b", path="/b"))
    _drop(landing_dir, "march.jsonl", events)
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success

    started = time.time()
    result = dg.materialize([daily_stats], resources=resources, instance=instance, tags={
        "dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-03"})
    assert result.success

    latest = {}
    for key in ("2024-03-01", "2024-03-02", "2024-03-03"):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("daily_stats"), asset_partitions=[key]), limit=1)
        [record] = records.records
        assert record.timestamp >= started - 1
        latest[key] = record.asset_materialization.metadata
    summary = {k: (m["dagster/row_count"].value, m["pageviews"].value, m["websites"].value, m["period"].value)
               for k, m in latest.items()}
    assert summary == {"2024-03-01": (1, 1, 1, "2024-03-01"), "2024-03-02": (1, 2, 1, "2024-03-02"),
                       "2024-03-03": (2, 4, 2, "2024-03-03")}
    assert "/d2" in latest["2024-03-02"]["preview"].value and "/d3" not in latest["2024-03-02"]["preview"].value
    assert "**2024-03-01**" in latest["2024-03-01"]["preview"].value
    for meta in latest.values():  # shared by the run: what the whole range did
        assert meta["run_periods"].value == 3 and meta["run_row_count"].value == 4
        assert meta["duration_seconds"].value <= meta["run_duration_seconds"].value
    assert date.fromisoformat(latest["2024-03-03"]["run_last_period"].value) == date(2024, 3, 3)
