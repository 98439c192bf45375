"""Report housekeeping, the size limit, the concurrency pool, and DISABLE_AUTO_SYNC."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from analytics_pipeline.definitions import apply_auto_sync_policy, build_defs
from analytics_pipeline.reports.generate import ReportTooLarge, generate_report
from analytics_pipeline.reports.housekeeping import clean_reports
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline_tests.reports.conftest import template

NOW = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)


def make_file(path, age_days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * 10)
    stamp = (NOW - timedelta(days=age_days)).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("action", ["archive", "delete"])
def test_old_report_files_are_archived_or_deleted(tmp_path, action):
    old = tmp_path / "daily-activity-summary" / "2024-01-01.csv"
    young = tmp_path / "daily-activity-summary" / "2024-05-30.csv"
    export = tmp_path / "exports" / "top-items_2024-01-01_2024-01-31_x.json.gz"
    make_file(old, 40)
    make_file(young, 2)
    make_file(export, 31)
    make_file(tmp_path / "daily-activity-summary" / ".2024-01-02.csv.tmp", 90)  # a write in progress: not touched

    dry = clean_reports(tmp_path, 30, action, now=NOW, dry_run=True)
    assert sorted(dry.files) == sorted([old, export]) and old.exists()
    result = clean_reports(tmp_path, 30, action, now=NOW)
    assert sorted(result.files) == sorted([old, export]) and result.bytes == 20
    assert not old.exists() and not export.exists() and young.exists()
    archived = tmp_path / ".archive" / "daily-activity-summary" / "2024-01-01.csv"
    assert archived.exists() == (action == "archive")
    assert clean_reports(tmp_path, 30, action, now=NOW).files == []  # the archive is not archived again
    with pytest.raises(ValueError, match="must be one of archive, delete"):
        clean_reports(tmp_path, 30, "shred", now=NOW)


def test_housekeeping_job_runs_with_its_schedule(tmp_path, resources, reports_dir, instance):
    make_file(reports_dir / "weekly-user-growth" / "2020-01-06.pdf", 2000)
    defs = build_defs()
    assert defs.resolve_schedule_def("report_housekeeping_schedule").cron_schedule == "30 3 * * *"
    from analytics_pipeline.reports.definitions import report_housekeeping_job

    result = report_housekeeping_job.execute_in_process(instance=instance, resources=resources)
    assert result.success
    assert (reports_dir / ".archive" / "weekly-user-growth" / "2020-01-06.pdf").exists()


def test_a_report_over_the_size_limit_fails_clearly_and_writes_nothing(stats, reports_dir):
    with pytest.raises(ReportTooLarge, match=r"the (csv|json|xlsx|pdf) file would be .* over the limit of 0.0 MB"):
        generate_report(stats, template(schedule="monthly"), "2024-03-01", reports_dir, max_bytes=100)
    assert not list(reports_dir.rglob("*.*"))


def test_every_report_asset_is_in_the_reports_pool_and_dagster_yaml_limits_it(tmp_path, monkeypatch):
    defs = build_defs()
    reports = [n for n in defs.resolve_asset_graph().asset_nodes if n.key.path[0] == "reports"]
    assert reports and all(n.pools == {"reports"} for n in reports)
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 2
    assert config.run_queue_config.max_concurrent_runs == 4
    assert config.run_queue_config.tag_concurrency_limits[0]["key"] == "analytics/singleton"


def test_disable_auto_sync_stops_every_schedule_and_sensor(monkeypatch):
    running = build_defs()
    assert any(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in running.schedules)
    monkeypatch.setenv("DISABLE_AUTO_SYNC", "true")
    stopped = build_defs()
    names = {s.name for s in running.schedules} | {s.name for s in running.sensors}
    assert {s.name for s in stopped.schedules} | {s.name for s in stopped.sensors} == names
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in stopped.schedules)
    assert all(s.default_status == dg.DefaultSensorStatus.STOPPED for s in stopped.sensors)
    dg.Definitions.validate_loadable(stopped)
    assert apply_auto_sync_policy(running, False) is running
