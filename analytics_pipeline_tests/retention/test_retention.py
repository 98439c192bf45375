"""Retention on both backends: real ingestion, real sessions and statistics, a real Dagster
instance for the materialization records."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.partitions import period_start
from analytics_pipeline.retention.definitions import materialized_partitions, retention_job
from analytics_pipeline.retention.plan import STATS_ASSET
from analytics_pipeline.retention.run import dropped_days, partition_name, run_retention
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event, write_jsonl

TODAY = datetime.now(timezone.utc).date()
_files = itertools.count(1)


def ago(days: int, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days), time(hour, minute, second, micro), tzinfo=timezone.utc)


def load(warehouse: Warehouse, landing_dir: Path, events: list[dict], *, sessions: bool = True) -> None:
    """Ingest ``events`` through the real pipeline (and take them into sessions, which marks
    their periods dirty, unless ``sessions=False``)."""
    write_jsonl(landing_dir / f"batch-{next(_files):04d}.jsonl", events)
    result = ingest_landing(warehouse, landing_dir)
    assert result.loaded == len(events)
    if sessions:
        update_sessions(warehouse, timeout_minutes=30)


def build_stats(warehouse: Warehouse, instance: dg.DagsterInstance, days: list[date], grains=("day", "week", "month")) -> None:
    """Build the statistics of every period containing ``days`` and record the materializations."""
    periods = sorted({(g, period_start(g, d)) for d in days for g in grains})
    for grain, start in periods:
        build_period(warehouse, grain, start)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=STATS_ASSET[grain], partition=start.isoformat()))


def day_events(days_ago: int, n: int, site: str = "site-a", session: str | None = None) -> list[dict]:
    session = session or f"s-{days_ago}-{site}"
    out = [event(website_id=site, session_id=session, occurred_at=ago(days_ago, 10, i)) for i in range(n - 1)]
    out.append(custom_event("signup", website_id=site, session_id=session, occurred_at=ago(days_ago, 10, n)))
    return out


def events_by_day(warehouse: Warehouse) -> dict[date, int]:
    expr = "substr(occurred_at, 1, 10)" if warehouse.is_sqlite else "(occurred_at AT TIME ZONE 'UTC')::date"
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {expr} AS d, count(*) FROM events GROUP BY 1")).all()
    return {Warehouse.to_date(d): n for d, n in rows}


def count(warehouse: Warehouse, table: str) -> int:
    with warehouse.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def all_stats(warehouse: Warehouse) -> dict[str, list[tuple]]:
    out = {}
    with warehouse.connect() as conn:
        for table, key in (("daily_stats", "date"), ("weekly_stats", "period_start"), ("monthly_stats", "period_start")):
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY website_id, {key}")).all()
            out[table] = [tuple(str(v) for v in row) for row in rows]
    return out


def retain(warehouse: Warehouse, instance: dg.DagsterInstance, **kwargs):
    kwargs.setdefault("retention_days", 90)
    kwargs.setdefault("pause_seconds", 0)
    kwargs.setdefault("log", lambda _m: None)
    return run_retention(warehouse, materialized=materialized_partitions(instance), today=TODAY, **kwargs)


@pytest.fixture
def old_and_recent(warehouse: Warehouse, landing_dir: Path, instance: dg.DagsterInstance) -> list[date]:
    """Events on days 120, 100, 91, 90 and 10 ago for two websites, all statistics built."""
    days = [120, 100, 91, 90, 10]
    events: list[dict] = []
    for n in days:
        events += day_events(n, 4) + day_events(n, 2, site="site-b")
    load(warehouse, landing_dir, events)
    build_stats(warehouse, instance, [TODAY - timedelta(days=n) for n in days])
    return [TODAY - timedelta(days=n) for n in days]


def test_exactly_retention_days_old_is_kept(warehouse, landing_dir, instance):
    # The last microsecond of day 91 goes; the first microsecond of day 90 (exactly 90 days) stays.
    load(warehouse, landing_dir, [
        event(session_id="a", occurred_at=ago(91, 23, 59, 59, 999999)),
        event(session_id="b", occurred_at=ago(90, 0, 0, 0)),
        event(session_id="c", occurred_at=ago(90, 23, 59, 59)),
    ])
    build_stats(warehouse, instance, [TODAY - timedelta(days=91), TODAY - timedelta(days=90)])
    result = retain(warehouse, instance)
    assert result.plan.cutoff == TODAY - timedelta(days=90)
    assert result.events_deleted == 1
    assert result.days_dropped == [TODAY - timedelta(days=91)]
    assert events_by_day(warehouse) == {TODAY - timedelta(days=90): 2}
    assert result.oldest_remaining_day == TODAY - timedelta(days=90)


def test_old_days_go_recent_days_stay_and_statistics_are_untouched(warehouse, old_and_recent, instance):
    stats_before = all_stats(warehouse)
    result = retain(warehouse, instance)
    assert result.days_kept == []
    assert result.days_dropped == old_and_recent[:3]
    assert result.events_deleted == 3 * 6
    assert events_by_day(warehouse) == {old_and_recent[3]: 6, old_and_recent[4]: 6}
    assert all_stats(warehouse) == stats_before
    assert dropped_days(warehouse) == old_and_recent[:3]


def test_sessions_before_the_cutoff_are_deleted(warehouse, landing_dir, instance):
    load(warehouse, landing_dir, [
        event(session_id="old", occurred_at=ago(95, 10)),
        # Starts on day 91, last activity on day 90: its last activity is not before the cutoff.
        event(session_id="straddling", occurred_at=ago(91, 23, 50)),
        event(session_id="straddling", occurred_at=ago(90, 0, 10)),
        event(session_id="recent", occurred_at=ago(5, 10)),
    ])
    build_stats(warehouse, instance, [TODAY - timedelta(days=n) for n in (95, 91, 90, 5)])
    assert count(warehouse, "sessions") == 3
    result = retain(warehouse, instance)
    assert result.sessions_deleted == 1
    with warehouse.connect() as conn:
        left = set(conn.execute(sa.text("SELECT session_id FROM sessions")).scalars())
    assert left == {"straddling", "recent"}


def test_day_without_statistics_survives(warehouse, landing_dir, instance):
    load(warehouse, landing_dir, day_events(100, 3) + day_events(101, 3))
    day100, day101 = TODAY - timedelta(days=100), TODAY - timedelta(days=101)
    # Week and month of both are built; only day 100 has its daily statistics.
    build_stats(warehouse, instance, [day100, day101], grains=("week", "month"))
    build_stats(warehouse, instance, [day100], grains=("day",))
    result = retain(warehouse, instance)
    assert result.days_dropped == [day100]
    [kept] = result.days_kept
    assert kept.day == day101 and kept.events == 3
    assert f"daily_stats partition {day101.isoformat()} has never been materialized" in kept.reasons
    assert "no daily_stats row for website site-a (3 raw events)" in kept.reasons
    assert events_by_day(warehouse) == {day101: 3}
    # Sessions stop at the first kept day (day 101, the older one): its statistics can still be
    # built from them, and day 100's session, later than it, waits for a later run.
    assert result.plan.sessions_before == day101
    assert result.sessions_deleted == 0 and count(warehouse, "sessions") == 2


def test_statistics_rows_without_a_materialization_do_not_count(warehouse, landing_dir, instance):
    load(warehouse, landing_dir, day_events(100, 3))
    day = TODAY - timedelta(days=100)
    for grain in ("day", "week", "month"):
        build_period(warehouse, grain, period_start(grain, day))
    result = retain(warehouse, instance)
    assert result.events_deleted == 0
    assert len(result.days_kept[0].reasons) == 3  # the three partitions were never materialized
    assert events_by_day(warehouse) == {day: 3}


def test_day_with_a_dirty_mark_survives(warehouse, old_and_recent, landing_dir, instance):
    day100 = old_and_recent[1]
    stats_before = all_stats(warehouse)
    load(warehouse, landing_dir, [event(session_id="late", occurred_at=ago(100, 18))])  # marks day/week/month dirty
    result = retain(warehouse, instance)
    kept = {k.day: k.reasons for k in result.days_kept}
    assert day100 in kept
    assert any("is stale" in r and "daily_stats" in r for r in kept[day100])
    assert events_by_day(warehouse)[day100] == 7
    # Every other day of that month went only if it is in another month.
    for day in result.days_dropped:
        assert period_start("month", day) != period_start("month", day100)
    assert all_stats(warehouse) == stats_before


def test_day_with_an_event_newer_than_its_statistics_survives(warehouse, old_and_recent, landing_dir, instance):
    day120 = old_and_recent[0]
    # Ingested, but not yet taken in by sessions: no dirty mark, only the raw data tells.
    load(warehouse, landing_dir, [event(session_id="late", website_id="site-c", occurred_at=ago(120, 18))],
         sessions=False)
    result = retain(warehouse, instance)
    kept = {k.day: k.reasons for k in result.days_kept}
    assert "no daily_stats row for website site-c (1 raw events)" in kept[day120]
    assert events_by_day(warehouse)[day120] == 7


def test_dry_run_deletes_nothing(warehouse, old_and_recent, instance):
    events_before, sessions_before = events_by_day(warehouse), count(warehouse, "sessions")
    result = retain(warehouse, instance, dry_run=True)
    assert result.plan.events_to_delete == 18 and result.sessions_to_delete == 6
    assert result.events_deleted == 0 and result.sessions_deleted == 0
    assert events_by_day(warehouse) == events_before
    assert count(warehouse, "sessions") == sessions_before
    assert dropped_days(warehouse) == []


def test_rerun_is_a_no_op(warehouse, old_and_recent, instance):
    first = retain(warehouse, instance)
    assert first.events_deleted == 18 and first.sessions_deleted == 6
    stats, events, sessions = all_stats(warehouse), events_by_day(warehouse), count(warehouse, "sessions")
    second = retain(warehouse, instance)
    assert (second.events_deleted, second.sessions_deleted, second.days_dropped, second.days_kept) == (0, 0, [], [])
    assert (all_stats(warehouse), events_by_day(warehouse), count(warehouse, "sessions")) == (stats, events, sessions)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # batched deletes are the SQLite path
def test_sqlite_deletes_in_batches_with_a_progress_line(warehouse, old_and_recent, instance):
    lines: list[str] = []
    result = retain(warehouse, instance, batch_size=4, log=lines.append)
    progress = [line for line in lines if "Deleted batch of" in line]
    # 18 events on 3 non-adjacent days (6 each): batches of 4 then 2 per day.
    assert progress[0] == "[Analytics Archive] Deleted batch of 4 events (4/18)"
    assert progress[-1] == "[Analytics Archive] Deleted batch of 2 events (18/18)"
    assert result.batches == len(progress) == 6


@pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)  # partitions are the PostgreSQL path
def test_postgres_drops_the_day_partitions_and_their_keys(warehouse, old_and_recent, instance):
    result = retain(warehouse, instance)
    assert result.partitions_dropped == [partition_name(d) for d in old_and_recent[:3]]
    assert result.event_keys_deleted == 18
    with warehouse.connect() as conn:
        for day in old_and_recent:
            exists = conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": partition_name(day)}).scalar_one()
            assert exists == (day not in old_and_recent[:3])
    assert count(warehouse, "event_keys") == 12
    assert result.size_after["events_bytes"] < result.size_before["events_bytes"]


def test_retention_job_reports_its_figures(warehouse, old_and_recent, resources, instance):
    dry = retention_job.execute_in_process(
        instance=instance, resources=resources,
        run_config={"ops": {"apply_retention": {"config": {"dry_run": True, "pause_seconds": 0}}}})
    assert dry.success and dry.output_for_node("apply_retention")["events_to_delete"] == 18
    assert count(warehouse, "events") == 30

    run = retention_job.execute_in_process(
        instance=instance, resources=resources,
        run_config={"ops": {"apply_retention": {"config": {"pause_seconds": 0}}}})
    assert run.success
    [output] = [e for e in run.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["events_deleted"].value == 18
    assert metadata["sessions_deleted"].value == 6
    assert metadata["days_dropped"].value == 3
    assert metadata["days_kept_by_guard"].value == 0
    assert metadata["oldest_remaining_day"].value == old_and_recent[3].isoformat()
    if warehouse.is_postgres:
        assert metadata["events_bytes_after"].value < metadata["events_bytes_before"].value
    observations = instance.fetch_observations(dg.AssetKey("raw_events"), limit=5).records
    assert observations


def test_schedule_is_sunday_two_utc():
    from analytics_pipeline.retention.definitions import retention_schedule

    assert retention_schedule.cron_schedule == "0 2 * * 0"
    assert retention_schedule.execution_timezone == "UTC"
    assert retention_schedule.job_name == "retention_job"


def test_cli_dry_run_then_run_then_history(warehouse, warehouse_url, landing_dir, tmp_path, monkeypatch, capsys):
    from analytics_pipeline.cli import main

    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", warehouse_url)
    load(warehouse, landing_dir, day_events(100, 3) + day_events(5, 2))
    with dg.DagsterInstance.get() as home_instance:
        build_stats(warehouse, home_instance, [TODAY - timedelta(days=100), TODAY - timedelta(days=5)])

    assert main(["retention", "--dry-run"]) == 0
    assert "would delete 3 events on 1 day(s) and 1 sessions" in capsys.readouterr().out
    assert count(warehouse, "events") == 5

    assert main(["retention"]) == 0
    assert "deleted 3 events on 1 day(s) and 1 sessions" in capsys.readouterr().out
    assert count(warehouse, "events") == 2

    assert main(["retention", "--history"]) == 0
    assert f"{TODAY - timedelta(days=100)}           3 events" in capsys.readouterr().out


def test_dropped_days_are_known_per_period(warehouse, old_and_recent, instance):
    from analytics_pipeline.stats.build import frozen_days as dropped_days_in_period

    retain(warehouse, instance)
    day120 = old_and_recent[0]
    assert dropped_days_in_period(warehouse, "day", day120) == [day120]
    assert day120 in dropped_days_in_period(warehouse, "month", period_start("month", day120))
    assert dropped_days_in_period(warehouse, "day", old_and_recent[3]) == []


def test_event_landing_between_plan_and_delete_keeps_its_day(warehouse, old_and_recent, landing_dir, instance):
    """The re-check at deletion time: PostgreSQL re-counts the locked partition, SQLite deletes
    only batches the plan saw and reports what is left."""
    from analytics_pipeline.retention import run as retention_run

    plan, max_batch_id = retention_run.build_plan(
        warehouse, today=TODAY, retention_days=90, materialized=materialized_partitions(instance))
    assert plan.days_kept == [] and len(plan.days_to_drop) == 3
    load(warehouse, landing_dir, [event(session_id="late", occurred_at=ago(100, 20))], sessions=False)
    result = retention_run.RetentionResult(plan=plan, dry_run=False)
    if warehouse.is_postgres:
        retention_run._drop_partitions(warehouse, plan, result, log=lambda _m: None, run_id=None)
        assert events_by_day(warehouse)[old_and_recent[1]] == 7  # untouched: the whole day stays
        assert result.days_dropped == dropped_days(warehouse) == [old_and_recent[0], old_and_recent[2]]
    else:
        retention_run._delete_batches(warehouse, plan, result, max_batch_id=max_batch_id, batch_size=1000,
                                      pause_seconds=0, log=lambda _m: None, run_id=None)
        # The approved events are gone, the late one stays; the day is recorded as dropped so
        # its statistics are never rebuilt from the single event left.
        assert events_by_day(warehouse)[old_and_recent[1]] == 1
        assert result.days_dropped == dropped_days(warehouse) == old_and_recent[:3]
    assert [k.day for k in result.days_kept] == [old_and_recent[1]]
