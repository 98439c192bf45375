"""``analytics-pipeline status`` against a Dagster instance holding real runs (a success and a
failure) and a real skipped sensor tick recorded by Dagster's sensor daemon loop."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import execute_sensor_iteration

from analytics_pipeline.alerts.status import collect_status
from analytics_pipeline.cli import main
from analytics_pipeline_tests.alerts import tiny_location

LOCATION_FILE = Path(tiny_location.__file__)


@pytest.fixture
def busy_instance(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """Two nightly_job successes, one upload_job failure, one skipped quiet_sensor tick."""
    for _ in range(2):
        assert tiny_location.nightly_job.execute_in_process(instance=instance).success
    assert not tiny_location.upload_job.execute_in_process(instance=instance, raise_on_error=False).success
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(LOCATION_FILE), attribute="defs")))
    with create_test_daemon_workspace_context(target, instance) as workspace:
        list(execute_sensor_iteration(workspace, logging.getLogger("sensor-test"), None, None))
    return instance


def test_status_rows_and_totals(busy_instance: dg.DagsterInstance) -> None:
    now = datetime.now(timezone.utc)
    report = collect_status(busy_instance, tiny_location.defs, now=now)
    jobs = {j.name: j for j in report.jobs}
    assert set(jobs) == {"nightly_job", "upload_job"}

    nightly = jobs["nightly_job"]
    assert nightly.status == "success" and nightly.error is None
    assert nightly.schedules == ["nightly_schedule"]
    assert nightly.next_tick is not None and nightly.next_tick > now
    assert (nightly.next_tick.hour, nightly.next_tick.minute) == (1, 0)
    assert nightly.duration_seconds is not None and nightly.duration_seconds >= 0
    assert nightly.last_run_at <= nightly.finished_at <= now

    upload = jobs["upload_job"]
    assert upload.status == "failure"
    assert upload.error == "upload: RuntimeError: upload of 3 rows refused: disk full"
    assert upload.next_tick is None

    sensor = next(i for i in report.instigators if i.name == "quiet_sensor")
    assert (sensor.kind, sensor.state, sensor.last_tick_status, sensor.last_tick_note) == (
        "sensor", "running", "skipped", "no new files in the landing directory")
    schedule = next(i for i in report.instigators if i.name == "nightly_schedule")
    assert (schedule.state, schedule.cron, schedule.last_tick_status) == ("running", "0 1 * * *", None)

    m = report.metrics
    assert (m.jobs, m.runs, m.successful, m.failed, m.in_progress) == (2, 3, 2, 1, 0)
    assert m.average_duration_seconds is not None and m.average_duration_seconds > 0
    assert m.failing_jobs == ["upload_job"]


def test_status_command_text_and_json(busy_instance: dg.DagsterInstance, capsys: pytest.CaptureFixture) -> None:
    # instance_for_test points DAGSTER_HOME at this instance, which the command opens itself
    module = "analytics_pipeline_tests.alerts.tiny_location"
    assert main(["status", "--module", module]) == 1  # a job's last run failed
    text = capsys.readouterr().out
    upload_line = next(line for line in text.splitlines() if line.startswith("upload_job"))
    assert "failure" in upload_line and "upload: RuntimeError: upload of 3 rows refused" in upload_line
    assert "jobs: 2" in text and "successful: 2" in text and "failed: 1" in text
    sensor_line = next(line for line in text.splitlines() if line.startswith("quiet_sensor"))
    assert "skipped" in sensor_line and "no new files" in sensor_line

    assert main(["status", "--json", "--module", module]) == 1
    document = json.loads(capsys.readouterr().out)
    jobs = {j["name"]: j for j in document["jobs"]}
    assert jobs["upload_job"]["status"] == "failure"
    assert jobs["nightly_job"]["next_tick"].endswith("01:00:00+00:00")
    assert {k: document["metrics"][k] for k in ("jobs", "runs", "successful", "failed")} == {
        "jobs": 2, "runs": 3, "successful": 2, "failed": 1}
    assert document["alert_rules"]["problems"] == []
    assert "traffic_anomaly" in document["alert_rules"]["rules"]


def test_status_without_dagster_home_uses_the_local_instance(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DAGSTER_HOME", "")  # unset for the command; restored after the test
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--module", "analytics_pipeline_tests.alerts.tiny_location"]) == 0
    assert (tmp_path / ".dagster_home" / "dagster.yaml").exists()  # as `make` sets it up
    assert "jobs: 2" in capsys.readouterr().out
