"""Jobs and reports through the Dagster instance: statuses and metrics, a triggered job is a
queued run (nothing runs in the API's process) that a worker then executes as the daemon would;
the report list, downloads (no path traversal), generating a period now and following it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.hosted_user_process import recon_job_from_origin
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from fastapi.testclient import TestClient

from analytics_pipeline import settings
from analytics_pipeline.cache import entries as E
from analytics_pipeline.reports.generate import write_report
from analytics_pipeline.reports.templates import load_templates
from analytics_pipeline_tests.api.conftest import AUTH, SITE_A_KEY, make_app
from analytics_pipeline_tests.cache.conftest import day


@pytest.fixture
def app_client(populated, warehouse_url: str, tmp_path: Path, queued_instance, reports_dir: Path):
    app = make_app(warehouse_url, "", tmp_path, queued_instance)
    app.state.reports_dir = reports_dir
    with TestClient(app) as client:
        yield client


@pytest.fixture
def jobs_client(tmp_path: Path, queued_instance):
    """Jobs read and write only the Dagster instance: one warehouse backend is enough."""
    from analytics_pipeline.warehouse import Warehouse

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Warehouse(url)
    with TestClient(make_app(url, "", tmp_path, queued_instance)) as client:
        yield client


def _execute_like_the_daemon(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    run = instance.get_run_by_id(run_id)
    instance.report_dagster_event(DagsterEvent(event_type_value=DagsterEventType.RUN_STARTING.value,
                                               job_name=run.job_name), run_id)
    execute_run(recon_job_from_origin(run.job_code_origin), instance.get_run_by_id(run_id), instance)
    return instance.get_run_by_id(run_id)


def test_trigger_queues_a_run_that_the_worker_executes(jobs_client, queued_instance) -> None:
    app_client = jobs_client
    jobs = app_client.get("/api/v1/jobs", headers=AUTH).json()
    by_id = {j["id"]: j for j in jobs}
    assert by_id["cache_refresh_job"]["status"] == "scheduled" and by_id["cache_refresh_job"]["lastRun"] is None
    accepted = app_client.post("/api/v1/jobs/summary/trigger", headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["runId"]
    assert accepted.json()["status"] == "queued" and "no Dagster daemon" in accepted.json()["note"]
    run = queued_instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.QUEUED and run.tags["analytics/requested_by"] == "api:inline-1"
    assert run.job_name == "cache_refresh_job" and run.asset_selection == {dg.AssetKey("cache_summary")}
    assert app_client.get(f"/api/v1/runs/{run_id}", headers=AUTH).json()["status"] == "queued"
    assert _execute_like_the_daemon(queued_instance, run_id).status == dg.DagsterRunStatus.SUCCESS
    status = app_client.get(f"/api/v1/runs/{run_id}", headers=AUTH).json()
    assert status["status"] == "completed" and status["endedAt"] is not None
    after = {j["id"]: j for j in app_client.get("/api/v1/jobs", headers=AUTH).json()}
    assert after["cache_refresh_job"]["status"] == "completed" and after["cache_refresh_job"]["runId"] == run_id
    metrics = app_client.get("/api/v1/jobs/metrics", headers=AUTH).json()
    assert metrics["successfulJobs"] == 1 and metrics["failedJobs"] == 0 and metrics["totalJobs"] == len(after)


def test_trigger_refusals(jobs_client) -> None:
    app_client = jobs_client
    assert app_client.post("/api/v1/jobs/no_such_job/trigger", headers=AUTH).status_code == 404
    assert app_client.post("/api/v1/jobs/cache_refresh_job/trigger", headers={"X-API-Key": SITE_A_KEY}).status_code == 403
    missing = app_client.post("/api/v1/jobs/daily_stats_job/trigger", headers=AUTH)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "partition_required"
    bad = app_client.post("/api/v1/jobs/daily_stats_job/trigger", json={"partition": "1999-01-01"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_partition"
    alias = app_client.post("/api/v1/jobs/top-items/trigger", headers=AUTH)
    assert alias.status_code == 202 and alias.json()["job"] == "cache_refresh_job"
    ok = app_client.post("/api/v1/jobs/daily_stats_job/trigger", json={"partition": day(2).isoformat()}, headers=AUTH)
    assert ok.status_code == 202 and ok.json()["partition"] == day(2).isoformat()
    assert app_client.get("/api/v1/runs/not-a-run", headers=AUTH).status_code == 404


def test_reports_list_download_generate_and_status(app_client, populated, reports_dir: Path, queued_instance) -> None:
    template = load_templates(settings.templates_dir()).by_id()["daily-activity-summary"]
    partition = day(1).isoformat()
    write_report(populated, template, partition, reports_dir)
    listing = app_client.get("/api/v1/reports", headers=AUTH).json()
    assert {t["id"] for t in listing["templates"]} >= {"daily-activity-summary", "weekly-user-growth",
                                                        "monthly-comprehensive", "quarterly-performance"}
    done = [r for r in listing["reports"] if r["template"] == template.id and r["partition"] == partition]
    assert done[0]["status"] == "completed" and done[0]["files"][0]["format"] == "csv"
    download = app_client.get(done[0]["files"][0]["url"], headers=AUTH)
    assert download.status_code == 200 and download.content == (reports_dir / template.id / f"{partition}.csv").read_bytes()
    assert download.headers["content-type"].startswith("text/csv")
    (reports_dir / "secret.csv").write_text("no")
    for path in [f"/api/v1/reports/{template.id}/files/..%2Fsecret.csv", f"/api/v1/reports/..%2F/files/{partition}.csv",
                 f"/api/v1/reports/{template.id}/files/{partition}.exe", f"/api/v1/reports/{template.id}/files/2001-01-01.csv",
                 "/api/v1/reports/nope/files/2024-01-01.csv"]:
        assert app_client.get(path, headers=AUTH).status_code == 404, path

    weekly = app_client.post("/api/v1/reports/weekly-user-growth/generate", json={"period": day(9).isoformat()}, headers=AUTH)
    assert weekly.status_code == 202, weekly.text
    run_id, monday = weekly.json()["runId"], weekly.json()["partition"]
    from datetime import date

    assert date.fromisoformat(monday).weekday() == 0 and date.fromisoformat(monday) <= day(9)
    status = app_client.get(weekly.json()["statusUrl"], headers=AUTH).json()
    assert status["status"] == "queued" and status["partition"] == monday and status["files"] == []
    listing = app_client.get("/api/v1/reports", headers=AUTH).json()
    assert any(r.get("runId") == run_id and r["status"] == "queued" for r in listing["reports"])
    assert app_client.get(f"/api/v1/reports/daily-activity-summary/status/{run_id}", headers=AUTH).status_code == 404
    assert app_client.post("/api/v1/reports/weekly-user-growth/generate", json={"period": "last week"},
                           headers=AUTH).status_code == 400
    assert app_client.post("/api/v1/reports/weekly-user-growth/generate", headers=AUTH).status_code == 400
    assert app_client.get("/api/v1/reports", headers={"X-API-Key": SITE_A_KEY}).status_code == 403
