"""The Dagster side: a template file becomes an asset, a job and a schedule; schedule ticks pick
the right partition; materializations write files, record metadata and deliver e-mail; late
statistics rebuild a report; the CLI reads the statistics back from the instance."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline import settings
from analytics_pipeline.cli import main
from analytics_pipeline.partitions import daily_partitions
from analytics_pipeline.reports.definitions import build_report_defs, report_key
from analytics_pipeline.reports.history import report_statistics
from analytics_pipeline.reports.resources import SmtpResource
from analytics_pipeline.reports.templates import load_templates
from analytics_pipeline.resources import default_resources
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline_tests.reports.conftest import (
    WEBSITES,
    insert_stats,
    read_table,
    stats_values,
    write_template,
)

NO_RETRY = dg.RetryPolicy(max_retries=1, delay=0)


def built(instance: dg.DagsterInstance, asset: str, *partitions: str) -> None:
    """Record statistics partitions as materialized (their rows are inserted by the fixtures)."""
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def check_result(result, name: str = "delivered"):
    (evaluation,) = [e.event_specific_data for e in result.all_events
                     if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and
                     e.event_specific_data.check_name == name]
    return evaluation


def repository(defs: dg.Definitions):
    return dg.Definitions.merge(defs, dg.Definitions(resources=default_resources())).get_repository_def()


def report_asset(defs: dg.Definitions, template_id: str) -> dg.AssetsDefinition:
    return next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.key == dg.AssetKey(["reports", template_id]))


def test_a_template_file_added_to_the_directory_becomes_an_asset_and_a_schedule(templates_dir, monkeypatch):
    monkeypatch.setenv("ANALYTICS_TEMPLATES_DIR", str(templates_dir))
    write_template(templates_dir, id="team-weekly", schedule="weekly", formats=["csv", "pdf"])
    write_template(templates_dir, id="paused-monthly", schedule="monthly", active=False)
    repo = repository(build_report_defs(settings.templates_dir()))
    assert {k.to_user_string() for k in repo.assets_defs_by_key} == {"reports/team-weekly", "reports/paused-monthly"}
    asset = repo.assets_defs_by_key[dg.AssetKey(["reports", "team-weekly"])]
    assert asset.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange("2024-02-26", "2024-03-04")) == [
        "2024-02-26", "2024-03-04"]
    assert asset.group_names_by_key[asset.key] == "reports"
    assert set(asset.specs_by_key[asset.key].kinds) == {"python", "csv", "pdf"}
    assert {d.asset_key.to_user_string() for d in asset.specs_by_key[asset.key].deps} == {"weekly_stats"}
    schedules = {s.name: s for s in repo.schedule_defs}
    assert schedules["report_team_weekly_schedule"].cron_schedule == "0 9 * * 1"
    assert schedules["report_team_weekly_schedule"].execution_timezone == "UTC"
    assert schedules["report_team_weekly_schedule"].default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedules["report_paused_monthly_schedule"].default_status == dg.DefaultScheduleStatus.STOPPED
    assert repo.has_job("report_paused_monthly_job")


@pytest.mark.parametrize(("template_id", "tick", "partition"), [
    ("daily-activity-summary", datetime(2024, 3, 2, 9, 0), "2024-03-01"),
    ("daily-activity-summary", datetime(2024, 3, 1, 9, 0), "2024-02-29"),
    ("weekly-user-growth", datetime(2024, 3, 4, 9, 0), "2024-02-26"),
    ("monthly-comprehensive", datetime(2024, 4, 1, 9, 0), "2024-03-01"),
    ("monthly-comprehensive", datetime(2025, 1, 1, 9, 0), "2024-12-01"),
    ("quarterly-performance", datetime(2024, 4, 1, 9, 0), "2024-01-01"),
    ("quarterly-performance", datetime(2025, 1, 1, 9, 0), "2024-10-01"),
])
def test_schedule_ticks_request_the_last_complete_period(instance, template_id, tick, partition):
    repo = repository(build_report_defs(REPO_ROOT / "report_templates"))
    schedule = repo.get_schedule_def(f"report_{template_id.replace('-', '_')}_schedule")
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick.replace(tzinfo=timezone.utc),
                                        repository_def=repo)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == partition
    assert request.run_key == f"{schedule.name}:{partition}"


def test_materialization_writes_files_and_records_metadata_without_smtp(stats, resources, reports_dir, instance, templates_dir):
    write_template(templates_dir, id="daily-check", schedule="daily", formats=["csv", "json", "xlsx", "pdf"],
                   recipients=["ops@example.com"])
    defs = build_report_defs(templates_dir, smtp=SmtpResource(url=""))
    built(instance, "daily_stats", "2024-03-01")
    result = dg.materialize([report_asset(defs, "daily-check")], partition_key="2024-03-01",
                            resources={**resources, "smtp": SmtpResource(url="")}, instance=instance)
    assert result.success
    assert check_result(result).passed
    (event,) = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    expected = [str(reports_dir / "daily-check" / f"2024-03-01.{ext}") for ext in ("csv", "json", "xlsx", "pdf")]
    assert metadata["paths"] == expected and metadata["path"] == expected[0]
    assert metadata["size_bytes"] == sum(Path(p).stat().st_size for p in expected)
    assert metadata["formats"] == ["csv", "json", "xlsx", "pdf"]
    assert metadata["recipients"] == ["ops@example.com"]
    assert metadata["delivery_status"] == "skipped: ANALYTICS_SMTP_URL is not set"
    document = json.loads(Path(expected[1]).read_text())
    assert metadata["rows"] == document["metadata"]["totalRecords"]
    day = read_table(stats, "daily_stats", date(2024, 3, 1))
    assert f"{sum(day[s]['total_pageviews'] for s in WEBSITES):,}" in metadata["preview"]
    assert metadata["content_changed"] is True


def test_email_delivered_with_attachments_and_resent_only_when_content_changes(
    stats, resources, reports_dir, instance, templates_dir, smtp_server
):
    smtp_url, received = smtp_server
    write_template(templates_dir, id="growth-mail", schedule="weekly", formats=["csv", "xlsx", "pdf"],
                   recipients=["a@example.com", "b@example.com"],
                   content={"email_subject": "Growth {{ period.start }}",
                            "email_body": "Pageviews: {{ kpi.total_pageviews.display }} ({{ kpi.total_pageviews.change_text }})"})
    defs = build_report_defs(templates_dir, retry_policy=NO_RETRY)
    asset = report_asset(defs, "growth-mail")
    run_resources = {**resources, "smtp": SmtpResource(url=smtp_url)}

    built(instance, "weekly_stats", "2024-02-26")

    def run() -> dict:
        result = dg.materialize([asset], partition_key="2024-02-26", resources=run_resources, instance=instance)
        return {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}

    first = run()
    assert first["delivery_status"].startswith("sent to 2 recipient(s) via smtp://127.0.0.1:")
    (rcpt, message), = received
    assert rcpt == ["a@example.com", "b@example.com"]
    assert message["Subject"] == "Growth 2024-02-26" and message["From"] == "reports@example.com"
    week = read_table(stats, "weekly_stats", date(2024, 2, 26))
    total = sum(week[s]["total_pageviews"] for s in WEBSITES)
    assert f"Pageviews: {total:,}" in message.get_body(("plain",)).get_content()
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attachments) == {"2024-02-26.csv", "2024-02-26.xlsx", "2024-02-26.pdf"}
    assert attachments["2024-02-26.csv"] == (reports_dir / "growth-mail" / "2024-02-26.csv").read_bytes().decode()
    assert attachments["2024-02-26.pdf"][:5] == b"%PDF-"
    assert attachments["2024-02-26.xlsx"] == (reports_dir / "growth-mail" / "2024-02-26.xlsx").read_bytes()

    second = run()  # same statistics: rebuilt, not re-sent
    assert second["content_hash"] == first["content_hash"] and second["content_changed"] is False
    assert second["delivery_status"].startswith("not re-sent: content unchanged")
    assert len(received) == 1

    insert_stats(stats, "weekly_stats", date(2024, 2, 26), {**stats_values("site-a", date(2024, 2, 26), 7),
                                                           "total_pageviews": 1})
    third = run()  # late data changed the numbers: sent again
    assert third["content_changed"] is True and third["delivery_status"].startswith("sent to 2")
    assert len(received) == 2


def test_report_waits_for_its_statistics_labelled_incomplete_and_never_emailed(
    stats, resources, reports_dir, instance, templates_dir, smtp_server
):
    smtp_url, received = smtp_server
    write_template(templates_dir, id="weekly-ready", schedule="weekly", formats=["csv", "json"],
                   recipients=["a@example.com"], content={"sections": ["summary", "trend"]})
    defs = build_report_defs(templates_dir, retry_policy=NO_RETRY)
    run_resources = {**resources, "smtp": SmtpResource(url=smtp_url)}
    days = [f"2024-02-{d}" for d in range(26, 30)] + ["2024-03-01", "2024-03-02", "2024-03-03"]

    def run():
        result = dg.materialize([report_asset(defs, "weekly-ready")], partition_key="2024-02-26",
                                resources=run_resources, instance=instance)
        return result, {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}

    built(instance, "weekly_stats", "2024-02-26")
    built(instance, "daily_stats", *days[:-1])  # the week's last day is not built yet
    result, meta = run()
    assert result.success and meta["period_status"] == "data incomplete"
    assert meta["delivery_status"].startswith("held: Data incomplete: daily_stats not built for 2024-03-03")
    assert not check_result(result).passed and received == []
    rows = list(csv.DictReader((reports_dir / "weekly-ready" / "2024-02-26.csv").open(newline="")))
    assert {r["period_status"] for r in rows} == {"data incomplete"}
    document = json.loads((reports_dir / "weekly-ready" / "2024-02-26.json").read_text())
    assert document["metadata"]["periodStatus"] == "data incomplete"
    assert "daily_stats not built for 2024-03-03" in document["metadata"]["statusNote"]

    built(instance, "daily_stats", days[-1])
    with stats.begin() as conn:  # a late event for the week: its statistics are stale again
        conn.execute(stats.sql("mark_stats_dirty"), {"grain": "week", "period_start": stats.day(date(2024, 2, 26)),
                                                     "events": 3, "marked_at": stats.ts(datetime.now(timezone.utc)),
                                                     "reason": "late events", "not_before": None})
    _, meta = run()
    assert meta["period_status"] == "data incomplete" and "weekly_stats waiting for late" in meta["delivery_status"]
    with stats.begin() as conn:
        conn.execute(stats.sql("clear_stats_dirty_mark"), {"grain": "week", "period": stats.day(date(2024, 2, 26))})
    result, meta = run()  # ready now: complete, and e-mailed
    assert meta["period_status"] == "complete" and meta["delivery_status"].startswith("sent to 1")
    assert check_result(result).passed and len(received) == 1


def test_failed_checks_keep_a_report_incomplete(stats, resources, instance, templates_dir):
    write_template(templates_dir, id="checked-daily", schedule="daily")
    defs = build_report_defs(templates_dir, smtp=SmtpResource(url=""))

    @dg.asset(name="daily_stats", partitions_def=daily_partitions,
              check_specs=[dg.AssetCheckSpec("reconciles_with_raw_events", asset="daily_stats")])
    def failing_daily_stats():
        yield dg.MaterializeResult(check_results=[dg.AssetCheckResult(
            check_name="reconciles_with_raw_events", passed=False)])

    # the partition is built, but the run that built it failed its reconciliation check
    assert dg.materialize([failing_daily_stats], partition_key="2024-03-01", instance=instance).success
    result = dg.materialize([report_asset(defs, "checked-daily")], partition_key="2024-03-01",
                            resources={**resources, "smtp": SmtpResource(url="")}, instance=instance)
    meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert meta["period_status"] == "data incomplete"
    assert "daily_stats check reconciles_with_raw_events failed for 2024-03-01" in meta["delivery_status"]


def test_a_failed_generation_counts_as_a_failed_report(stats, resources, instance, templates_dir, capsys, monkeypatch):
    from analytics_pipeline.reports.resources import ReportPolicy

    write_template(templates_dir, id="too-big", schedule="daily", formats=["pdf"])
    defs = build_report_defs(templates_dir, retry_policy=NO_RETRY, smtp=SmtpResource(url=""))
    built(instance, "daily_stats", "2024-03-01", "2024-03-02")
    tiny = {**resources, "smtp": SmtpResource(url=""), "report_policy": ReportPolicy(max_report_size_mb=0.001)}
    failed = dg.materialize([report_asset(defs, "too-big")], partition_key="2024-03-01", instance=instance,
                            resources=tiny, raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "the pdf file would be" in str(failure.step_failure_data.user_failure_data.description)
    # a size failure is final: no retry
    assert not [e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert dg.materialize([report_asset(defs, "too-big")], partition_key="2024-03-02", instance=instance,
                          resources={**resources, "smtp": SmtpResource(url="")}).success
    stats_out = report_statistics(instance, load_templates(templates_dir).templates)
    assert (stats_out["successfulReports"], stats_out["failedReports"]) == (1, 1)
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    assert main(["reports", "stats", "--dir", str(templates_dir)]) == 0
    out = capsys.readouterr().out
    assert "Successful reports: 1" in out and "Failed reports: 1" in out


def test_delivery_failure_is_recorded_and_retried_on_its_own(
    stats, resources, reports_dir, instance, templates_dir, smtp_server, monkeypatch
):
    from analytics_pipeline.reports import definitions as report_definitions

    write_template(templates_dir, id="mail-fails", schedule="daily", recipients=["a@example.com"])
    defs = build_report_defs(templates_dir, retry_policy=NO_RETRY)
    built(instance, "daily_stats", "2024-03-01")
    down = SmtpResource(url="smtp://127.0.0.1:9", timeout_seconds=2)
    result = dg.materialize([report_asset(defs, "mail-fails")], partition_key="2024-03-01", instance=instance,
                            resources={**resources, "smtp": down})
    assert result.success  # the report was written and is recorded as written
    meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert meta["delivery_status"].startswith("failed: delivery to smtp://127.0.0.1:9 failed")
    assert (reports_dir / "mail-fails" / "2024-03-01.csv").exists()
    assert not check_result(result).passed
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]

    sensor = next(s for s in defs.sensors if s.name == "report_delivery_sensor")
    skip = sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(skip, dg.SkipReason) and "mail-fails 2024-03-01: attempt 2 due later" in skip.skip_message
    monkeypatch.setattr(report_definitions, "DELIVERY_RETRY_MINUTES", (0, 0))
    (request,) = sensor(dg.build_sensor_context(instance=instance))
    assert request.run_key == "deliver:mail-fails:2024-03-01:2"

    job = dg.Definitions.merge(defs, dg.Definitions(resources={"pipeline": resources["pipeline"], "warehouse": resources["warehouse"]})).resolve_job_def("report_delivery_job")
    assert job.execute_in_process(run_config=request.run_config, instance=instance,
                                  resources={"smtp": down}).success  # attempt 2 fails again
    (request,) = sensor(dg.build_sensor_context(instance=instance))
    assert request.run_key == "deliver:mail-fails:2024-03-01:3"
    smtp_url, received = smtp_server
    assert job.execute_in_process(run_config=request.run_config, instance=instance,
                                  resources={"smtp": SmtpResource(url=smtp_url)}).success
    (rcpt, message), = received
    assert rcpt == ["a@example.com"] and message.get_body(("plain",)) is not None
    assert {p.get_filename() for p in message.iter_attachments()} == {"2024-03-01.csv"}
    skip = sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(skip, dg.SkipReason) and skip.skip_message == "no failed deliveries"

    # attempts run out: the sensor says it gave up
    built(instance, "daily_stats", "2024-03-02")
    dg.materialize([report_asset(defs, "mail-fails")], partition_key="2024-03-02", instance=instance,
                   resources={**resources, "smtp": down})
    for _ in range(2):
        (request,) = [r for r in sensor(dg.build_sensor_context(instance=instance)) if "2024-03-02" in r.run_key]
        job.execute_in_process(run_config=request.run_config, instance=instance, resources={"smtp": down})
    skip = sensor(dg.build_sensor_context(instance=instance))
    assert "gave up on mail-fails 2024-03-02 after 3 attempts" in skip.skip_message


def test_late_statistics_rebuild_an_existing_report_partition(stats, resources, instance, templates_dir):
    write_template(templates_dir, id="late-daily", schedule="daily")
    report_defs = build_report_defs(templates_dir, smtp=SmtpResource(url=""))
    key = dg.AssetKey(["reports", "late-daily"])
    defs = dg.Definitions.merge(report_defs, dg.Definitions(
        assets=[dg.AssetSpec("daily_stats", partitions_def=daily_partitions)],
        resources={k: v for k, v in resources.items() if k != "report_policy"}))
    dg.materialize([report_asset(report_defs, "late-daily")], partition_key="2024-03-01",
                   resources={**resources, "smtp": SmtpResource(url="")}, instance=instance)
    now = datetime(2024, 3, 10, 12, tzinfo=timezone.utc)
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=dg.AssetSelection.assets(key),
                                                 evaluation_time=now)
    assert baseline.total_requested == 0
    # the stats late-data sensor re-aggregates two days; only the one with a report is rebuilt
    for day in ("2024-03-01", "2024-03-05"):
        instance.report_runless_asset_event(dg.AssetMaterialization("daily_stats", partition=day))
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=dg.AssetSelection.assets(key),
                                               evaluation_time=now, cursor=baseline.cursor)
    assert result.get_requested_partitions(key) == {"2024-03-01"}


def test_the_code_location_loads_the_default_reports():
    from analytics_pipeline.definitions import defs

    repo = defs.get_repository_def()
    for template in load_templates(REPO_ROOT / "report_templates").templates:
        assert report_key(template) in repo.assets_defs_by_key
        assert repo.has_schedule_def(f"report_{template.slug}_schedule")
    assert "reports_late_data_sensor" in {s.name for s in repo.sensor_defs}


def test_templates_sensor_reports_broken_new_and_changed_files(templates_dir, instance):
    write_template(templates_dir, id="kept", schedule="daily")
    write_template(templates_dir, id="edited", schedule="daily")
    defs = build_report_defs(templates_dir)
    sensor = next(s for s in defs.sensors if s.name == "report_templates_sensor")

    def tick() -> str:
        (reason,) = [sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).skip_message]
        return reason

    assert tick() == "2 template(s), all valid and loaded"
    write_template(templates_dir, id="added", schedule="weekly")
    write_template(templates_dir, id="edited", schedule="monthly")
    (templates_dir / "bad.yaml").write_text("id: bad\nname: Bad\nschedule: daily\nformats: [docx]\n")
    message = tick()
    assert "broken bad.yaml: formats: unknown value(s) ['docx']" in message
    assert "new template added" in message and "template edited changed" in message
    assert "kept" not in message
