"""Yesterday's partition at 01:00 UTC and its completion for websites west of UTC: the build
keeps a stats_dirty mark (reason, not_before) for the websites whose local day had not ended,
late events keep it waiting, and the late-data sensor completes the partition once every
website's day has ended, tagged with the reason. Late-data marks are in local days."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import orjson
import pytest
import yaml

from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.sessions.definitions import sessions
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.stats.definitions import daily_stats, late_data_sensor
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import load_websites
from analytics_pipeline_tests.stats.helpers import dirty_marks, drop, ingest, stats

NOV3 = date(2024, 11, 3)
BUILD_AT = datetime(2024, 11, 4, 1, 0, tzinfo=timezone.utc)  # the 01:00 UTC schedule tick
WEBSITES = {"websites": [
    {"id": "ny", "name": "New York", "timezone": "America/New_York"},
    {"id": "kir", "name": "Kiritimati", "timezone": "Pacific/Kiritimati"},
    {"id": "m12", "name": "Baker Island", "timezone": "Etc/GMT+12"},
]}


def _ev(n: int, site: str, at: str, **extra) -> dict:
    return {"event_id": f"z{n}", "website_id": site, "session_id": f"{site}-{n}", "visitor_id": f"v{n}",
            "event_type": "pageview", "occurred_at": at, "url_path": "/", **extra}


@pytest.fixture
def websites_file(tmp_path: Path) -> Path:
    path = tmp_path / "websites.yaml"
    path.write_text(yaml.safe_dump(WEBSITES), encoding="utf-8")
    return path


def _mark(warehouse: Warehouse, grain: str, day: date) -> dict:
    return next(m for m in warehouse.query("select_stats_dirty")
                if m["grain"] == grain and Warehouse.to_date(m["period_start"]) == day)


def test_the_0100_build_is_completed_once_every_local_day_has_ended(warehouse: Warehouse, landing_dir: Path,
                                                                    websites_file: Path) -> None:
    directory = load_websites(websites_file, "UTC")
    # Nov 3 local: ny [11-03 04:00Z, 11-04 05:00Z) (25 h), kir [11-02 10:00Z, 11-03 10:00Z),
    # m12 [11-03 12:00Z, 11-04 12:00Z), plain (UTC) [11-03, 11-04).
    drop(landing_dir, "by_0100.jsonl", [
        _ev(1, "ny", "2024-11-03T12:00:00Z"), _ev(2, "kir", "2024-11-03T09:00:00Z"),
        _ev(3, "m12", "2024-11-03T20:00:00Z"), _ev(4, "plain", "2024-11-03T23:00:00Z"),
    ])
    ingest(warehouse, landing_dir, BUILD_AT - timedelta(minutes=10))
    update_sessions(warehouse, timeout_minutes=30, now=BUILD_AT - timedelta(minutes=5), websites=directory)

    assert build_period(warehouse, "day", NOV3, now=BUILD_AT, websites=directory) == 4

    mark = _mark(warehouse, "day", NOV3)
    assert Warehouse.to_datetime(mark["not_before"]) == datetime(2024, 11, 4, 12, tzinfo=timezone.utc)
    assert mark["events"] == 0
    assert mark["reason"] == ("daily_stats 2024-11-03 built at 2024-11-04T01:00Z before the local period had ended "
                              "for America/New_York until 2024-11-04T05:00Z, Etc/GMT+12 until 2024-11-04T12:00Z")
    assert {w: r["total_pageviews"] for w, r in stats(warehouse, "day", NOV3).items()} == {
        "ny": 1, "kir": 1, "m12": 1, "plain": 1}

    # Late in New York's (25-hour) day and in Baker Island's: the mark counts them and keeps
    # waiting for the later end.
    drop(landing_dir, "after_0100.jsonl", [_ev(5, "ny", "2024-11-04T04:30:00Z"), _ev(6, "m12", "2024-11-04T11:59:00Z")])
    at = datetime(2024, 11, 4, 12, 5, tzinfo=timezone.utc)
    ingest(warehouse, landing_dir, at)
    update_sessions(warehouse, timeout_minutes=30, now=at, websites=directory)
    mark = _mark(warehouse, "day", NOV3)
    assert mark["events"] == 2  # the two late events
    assert Warehouse.to_datetime(mark["not_before"]) == datetime(2024, 11, 4, 12, tzinfo=timezone.utc)
    assert mark["reason"].startswith("daily_stats 2024-11-03 built at 2024-11-04T01:00Z")

    assert build_period(warehouse, "day", NOV3, now=at, websites=directory) == 4
    assert ("day", NOV3) not in dirty_marks(warehouse)
    assert {w: r["total_pageviews"] for w, r in stats(warehouse, "day", NOV3).items()} == {
        "ny": 2, "kir": 1, "m12": 2, "plain": 1}


def test_a_week_built_before_its_western_end_waits_too(warehouse: Warehouse, landing_dir: Path,
                                                       websites_file: Path) -> None:
    directory = load_websites(websites_file, "UTC")
    monday_0130 = datetime(2024, 11, 4, 1, 30, tzinfo=timezone.utc)
    build_period(warehouse, "week", date(2024, 10, 28), now=monday_0130, websites=directory)
    mark = _mark(warehouse, "week", date(2024, 10, 28))
    assert Warehouse.to_datetime(mark["not_before"]) == datetime(2024, 11, 4, 12, tzinfo=timezone.utc)
    assert mark["reason"].startswith("weekly_stats 2024-10-28")


def test_without_a_websites_file_nothing_is_marked(warehouse: Warehouse, tmp_path: Path) -> None:
    build_period(warehouse, "day", NOV3, now=BUILD_AT, websites=load_websites(tmp_path / "none.yaml", "UTC"))
    assert dirty_marks(warehouse) == set()


def test_late_data_marks_the_websites_local_days(warehouse: Warehouse, landing_dir: Path,
                                                 websites_file: Path) -> None:
    # 2024-03-31T12:00Z is Monday April 1 in Kiritimati (+14) and Sunday March 31 at UTC.
    drop(landing_dir, "kir.jsonl", [_ev(7, "kir", "2024-03-31T12:00:00Z")])
    ingest(warehouse, landing_dir, datetime(2024, 4, 2, tzinfo=timezone.utc))
    update_sessions(warehouse, timeout_minutes=30, now=datetime(2024, 4, 2, tzinfo=timezone.utc),
                    websites=load_websites(websites_file, "UTC"))
    assert dirty_marks(warehouse) == {("day", date(2024, 4, 1)), ("week", date(2024, 4, 1)), ("month", date(2024, 4, 1))}


def test_the_sensor_waits_then_completes_with_the_reason(landing_dir: Path, resources: dict,
                                                         instance: dg.DagsterInstance, websites_file: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_WEBSITES_FILE", str(websites_file))
    (landing_dir / "e.jsonl").write_bytes(orjson.dumps(_ev(8, "m12", "2024-11-03T20:00:00Z")) + b"\n")
    assert dg.materialize([raw_events, sessions], resources=resources, instance=instance).success
    assert dg.materialize([daily_stats], partition_key="2024-11-03", resources=resources, instance=instance).success
    wh = resources["warehouse"].get()
    sensor_context = lambda: dg.build_sensor_context(instance=instance, resources={"warehouse": resources["warehouse"]})  # noqa: E731
    assert late_data_sensor(sensor_context()).skip_message  # built after every day ended: nothing waits

    # As the 01:00 tick built it: Baker Island's day had 11 hours to go.
    build_period(wh, "day", NOV3, now=BUILD_AT)
    with wh.begin() as conn:  # ... and seen before that end
        conn.execute(wh.sql("mark_stats_dirty"), {
            "grain": "day", "period_start": wh.day(NOV3), "events": 0, "marked_at": wh.ts(BUILD_AT),
            "reason": None, "not_before": wh.ts(datetime.now(timezone.utc) + timedelta(hours=1))})
    skip = late_data_sensor(sensor_context()).skip_message
    assert "daily_stats 2024-11-03 until" in skip and "Etc/GMT+12 until 2024-11-04T12:00Z" in skip

    with wh.begin() as conn:  # the day has ended
        conn.exec_driver_sql("UPDATE stats_dirty SET not_before = NULL")
    requests = late_data_sensor(sensor_context())
    assert [(r.job_name, r.partition_key) for r in requests] == [("daily_stats_job", "2024-11-03")]
    assert requests[0].tags["analytics/reason"] == (
        "completing: daily_stats 2024-11-03 built at 2024-11-04T01:00Z before the local period had ended for "
        "America/New_York until 2024-11-04T05:00Z, Etc/GMT+12 until 2024-11-04T12:00Z")
