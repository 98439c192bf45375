"""A schedule tick that meets a running run of its job: the period is queued, never lost.

Driven in-process through Dagster's own scheduler and run-queue daemon iterations, against an
instance configured with the repository's dagster.yaml (queued run coordinator, one run per job)
and a code server for a tiny location that uses the same schedule helper as the real one.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import PythonFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._scheduler.scheduler import launch_scheduled_runs

from analytics_pipeline.definitions import defs
from analytics_pipeline.orchestration import SINGLETON_TAG
from analytics_pipeline_tests.pipeline import orchestration_location

REPO = Path(__file__).resolve().parents[2]
LOGGER = logging.getLogger("tick_meets_running_run")
# The scheduler starts at 00:30 UTC on 2024-03-05 and is evaluated after the 01:00 ticks of
# 2024-03-05 and 2024-03-06 (days 03-04 and 03-05), while a run of the job is going.
STARTED_AT = datetime(2024, 3, 5, 0, 30, tzinfo=timezone.utc)
EVALUATED_AT = [datetime(2024, 3, 5, 1, 30, tzinfo=timezone.utc), datetime(2024, 3, 6, 1, 30, tzinfo=timezone.utc)]


def _shipped_instance_config() -> dict:
    return yaml.safe_load((REPO / "dagster.yaml").read_text())


def _wait_finished(instance: dg.DagsterInstance, run_id: str, timeout: float = 90) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run.is_finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s: {run.status}")


def test_ticks_that_meet_a_running_run_are_queued_and_built_in_order():
    with dg.instance_for_test(overrides=_shipped_instance_config()) as instance:
        target = PythonFileTarget(python_file=orchestration_location.__file__, attribute=None,
                                  working_directory=str(REPO), location_name="tiny")
        with create_test_daemon_workspace_context(target, instance) as workspace:
            with freeze_time(STARTED_AT):
                list(launch_scheduled_runs(workspace, LOGGER, STARTED_AT, {}))
            blocking = instance.add_run(dg.DagsterRun(
                job_name="tiny_daily_job", status=dg.DagsterRunStatus.STARTED,
                tags={SINGLETON_TAG: "tiny_daily_job"}))

            for moment in EVALUATED_AT:
                with freeze_time(moment):
                    list(launch_scheduled_runs(workspace, LOGGER, moment, {}))

            queued = sorted(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])),
                            key=lambda r: r.tags["dagster/partition"])
            assert [r.tags["dagster/partition"] for r in queued] == ["2024-03-04", "2024-03-05"]
            assert blocking.run_id[:8] in queued[0].tags["analytics/reason"]
            assert queued[0].run_id[:8] in queued[1].tags["analytics/reason"]  # behind the queued one
            queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
            list(queue.run_iteration(workspace))
            assert {instance.get_run_by_id(r.run_id).status for r in queued} == {dg.DagsterRunStatus.QUEUED}

            instance.report_run_failed(blocking)  # the previous run ends (here: it failed)
            list(queue.run_iteration(workspace))
            first, second = (instance.get_run_by_id(r.run_id) for r in queued)
            assert first.status != dg.DagsterRunStatus.QUEUED
            assert second.status == dg.DagsterRunStatus.QUEUED  # one run of the job at a time
            assert _wait_finished(instance, first.run_id).status == dg.DagsterRunStatus.SUCCESS
            list(queue.run_iteration(workspace))
            assert _wait_finished(instance, second.run_id).status == dg.DagsterRunStatus.SUCCESS

        built = instance.get_materialized_partitions(dg.AssetKey("tiny_daily"))
        assert built == {"2024-03-04", "2024-03-05"}
        starts = {r.dagster_run.run_id: r.start_time for r in instance.get_run_records(
            dg.RunsFilter(run_ids=[first.run_id, second.run_id]))}
        assert starts[first.run_id] < starts[second.run_id]


def test_the_real_partitioned_schedules_request_their_period_while_a_run_is_going(instance):
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    running = instance.add_run(dg.DagsterRun(job_name="daily_stats_job", status=dg.DagsterRunStatus.STARTED,
                                             tags={SINGLETON_TAG: "daily_stats_job"}))
    tick = datetime(2024, 3, 2, 1, 0, tzinfo=timezone.utc)

    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    [request] = schedules["daily_aggregation_schedule"].evaluate_tick(context).run_requests

    assert request.partition_key == "2024-03-01"
    assert request.tags[SINGLETON_TAG] == "daily_stats_job"  # the queue keeps it behind the running run
    assert running.run_id[:8] in request.tags["analytics/reason"]


def test_jobs_without_partitions_still_skip_while_running(instance):
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    instance.add_run(dg.DagsterRun(job_name="sessions_job", status=dg.DagsterRunStatus.STARTED))
    tick = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)

    result = schedules["session_cleanup_schedule"].evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))

    assert not result.run_requests and "not starting a second copy" in result.skip_message
