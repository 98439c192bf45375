"""Ticks the daemon missed are caught up: every day of an outage is built, not only the last.

Dagster evaluates only the latest of several missed ticks of a schedule like these; the
schedule helper (``non_overlapping_schedule``) requests the missed ticks' periods too. Driven
through Dagster's own scheduler iterations (as in ``test_tick_meets_running_run.py``) on the
tiny location, whose daily schedule builds yesterday at 01:00 UTC and its missed days in one run
over their range (as statistics and metrics do; reports catch up one run per period).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from itertools import islice

import dagster as dg
import pytest
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import PythonFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster._utils.schedules import schedule_execution_time_iterator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.definitions import defs
from analytics_pipeline.orchestration import CATCH_UP_TAG, MAX_CATCH_UP_TICKS, REASON_TAG
from analytics_pipeline_tests.ingestion.hostile import examples
from analytics_pipeline_tests.pipeline import orchestration_location
from analytics_pipeline_tests.pipeline.test_tick_meets_running_run import REPO, _shipped_instance_config, _wait_finished

LOGGER = logging.getLogger("missed_ticks")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
REPOSITORY = defs.get_repository_def()
PARTITIONED = sorted(s.name for s in REPOSITORY.schedule_defs if REPOSITORY.get_job(s.job_name).partitions_def)
ANCHOR = datetime(2024, 2, 1, tzinfo=timezone.utc)
ALONE: dict[tuple[str, datetime], list[str]] = {}


def _evaluate(instance: dg.DagsterInstance, schedule: dg.ScheduleDefinition, tick: datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick, repository_def=REPOSITORY)
    context._instance = instance  # the instance itself, not a new one from its ref (85 ms each)
    return list(schedule.evaluate_tick(context).run_requests or [])


@pytest.fixture(scope="module")
def shared_instance():
    with dg.instance_for_test() as instance:
        yield instance


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def tiny():
    with dg.instance_for_test(overrides=_shipped_instance_config()) as instance:
        target = PythonFileTarget(python_file=orchestration_location.__file__, attribute=None,
                                  working_directory=str(REPO), location_name="tiny")
        with create_test_daemon_workspace_context(target, instance) as workspace:
            yield instance, workspace


def _tick(workspace, moment: datetime) -> None:
    with freeze_time(moment):
        list(launch_scheduled_runs(workspace, LOGGER, moment, {}))


def _requested(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    """Runs of tiny_daily_job by what they build: a day, or ``first...last`` for a range."""
    out = {}
    for run in instance.get_runs(dg.RunsFilter(job_name="tiny_daily_job")):
        tags = run.tags
        key = tags.get("dagster/partition") or f"{tags[RANGE_START]}...{tags[RANGE_END]}"
        out[key] = run
    return out


def _schedule(workspace):
    location = workspace.create_request_context().get_code_location("tiny")
    return location.get_repository("__repository__").get_schedule("tiny_daily_schedule")


def _run_queue(instance: dg.DagsterInstance, workspace, runs: list[dg.DagsterRun]) -> None:
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
    for run in runs:  # one run of the job at a time, oldest first
        list(queue.run_iteration(workspace))
        assert _wait_finished(instance, run.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_days_the_daemon_was_down_are_built_when_it_comes_back(tiny):
    instance, workspace = tiny
    _tick(workspace, _at(5, 0, 30))  # the scheduler starts
    _tick(workspace, _at(5, 1, 30))
    assert set(_requested(instance)) == {"2024-03-04"}
    _run_queue(instance, workspace, list(_requested(instance).values()))

    _tick(workspace, _at(9, 1, 30))  # down from 03-05 01:30 to 03-09 01:30: four 01:00 ticks missed
    runs = _requested(instance)
    assert sorted(runs) == ["2024-03-04", "2024-03-05...2024-03-07", "2024-03-08"]
    catch_up, today = runs["2024-03-05...2024-03-07"], runs["2024-03-08"]
    assert catch_up.tags[CATCH_UP_TAG] == ("2024-03-05...2024-03-07: 3 ticks were missed, "
                                           "2024-03-06 01:00 .. 2024-03-08 01:00 UTC")
    assert CATCH_UP_TAG not in today.tags  # the tick evaluated now
    assert today.tags[REASON_TAG] == "queued behind the missed periods; starts after them"

    _run_queue(instance, workspace, [catch_up, today])  # Dagster runs the range as one run
    assert instance.get_materialized_partitions(dg.AssetKey("tiny_daily")) == {
        "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"}

    _tick(workspace, _at(10, 1, 30))  # the next day as usual: no catch-up
    runs = _requested(instance)
    assert sorted(runs) == ["2024-03-04", "2024-03-05...2024-03-07", "2024-03-08", "2024-03-09"]
    assert CATCH_UP_TAG not in runs["2024-03-09"].tags


def test_a_schedule_stopped_on_purpose_does_not_catch_up_its_stopped_days(tiny):
    instance, workspace = tiny
    _tick(workspace, _at(5, 0, 30))
    _tick(workspace, _at(5, 1, 30))
    schedule = _schedule(workspace)
    with freeze_time(_at(5, 12)):
        instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
    with freeze_time(_at(8, 12)):
        instance.start_schedule(schedule)  # restarted by hand after three days
    _tick(workspace, _at(9, 1, 30))

    assert sorted(_requested(instance)) == ["2024-03-04", "2024-03-08"]


def _last_run_at(instance: dg.DagsterInstance, schedule: str, job: str, tick: datetime) -> None:
    instance.add_run(dg.DagsterRun(job_name=job, status=dg.DagsterRunStatus.SUCCESS, tags={
        "dagster/schedule_name": schedule, ".dagster/scheduled_execution_time": tick.isoformat()}))


def test_a_long_outage_catches_up_at_most_a_month_of_ticks(instance):
    """Reports catch up one run per period (each is a deliverable); statistics one run."""
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    _last_run_at(instance, "report_daily_activity_summary_schedule", "report_daily_activity_summary_job",
                 datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc))
    _last_run_at(instance, "daily_aggregation_schedule", "daily_stats_job",
                 datetime(2024, 1, 1, 1, 0, tzinfo=timezone.utc))
    day = datetime(2024, 3, 2, tzinfo=timezone.utc)

    reports = _evaluate(instance, schedules["report_daily_activity_summary_schedule"], day.replace(hour=9))
    expected = [(day - timedelta(days=n + 1)).date().isoformat() for n in range(MAX_CATCH_UP_TICKS, -1, -1)]
    assert [r.partition_key for r in reports] == expected  # oldest first, this tick's day last
    assert len({r.run_key for r in reports}) == MAX_CATCH_UP_TICKS + 1
    assert reports[0].tags[CATCH_UP_TAG] == "the tick of 2024-01-31 09:00 UTC was missed"

    [catch_up, today] = _evaluate(instance, schedules["daily_aggregation_schedule"], day.replace(hour=1))
    assert (catch_up.tags[RANGE_START], catch_up.tags[RANGE_END]) == ("2024-01-30", "2024-02-29")
    assert catch_up.tags[CATCH_UP_TAG] == ("2024-01-30...2024-02-29: 31 ticks were missed, "
                                           "2024-01-31 01:00 .. 2024-03-01 01:00 UTC")
    assert today.partition_key == "2024-03-01"
    assert today.tags[REASON_TAG] == "queued behind the missed periods; starts after them"



def test_catch_up_runs_say_which_run_they_wait_behind(instance):
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    _last_run_at(instance, "daily_aggregation_schedule", "daily_stats_job",
                 datetime(2024, 2, 27, 1, 0, tzinfo=timezone.utc))
    running = instance.add_run(dg.DagsterRun(job_name="daily_stats_job", status=dg.DagsterRunStatus.STARTED))

    requests = _evaluate(instance, schedules["daily_aggregation_schedule"], datetime(2024, 3, 2, 1, 0, tzinfo=timezone.utc))

    assert [CATCH_UP_TAG in r.tags for r in requests] == [True, False]
    for request in requests:
        assert request.tags[REASON_TAG] == (f"queued behind run {running.run_id[:8]} of daily_stats_job (started); "
                                            "starts when it ends")

@settings(deadline=None, max_examples=examples(30, 500),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(PARTITIONED), first=st.integers(0, 40), missed=st.integers(0, 200))
def test_every_partitioned_schedule_requests_exactly_the_periods_of_its_missed_ticks(
        shared_instance, name, first, missed):
    """For each real partitioned schedule, a last run at tick ``first`` and ``missed`` ticks not
    evaluated: one evaluation requests the periods of the missed ticks (the latest 31, or every
    one of the last 7 days), oldest first, then its own, each period once; the periods are the
    ones those ticks would have requested had they been evaluated."""
    instance = shared_instance
    schedule = next(s for s in REPOSITORY.schedule_defs if s.name == name)
    ticks = list(islice(schedule_execution_time_iterator(ANCHOR.timestamp(), schedule.cron_schedule, "UTC"),
                        first + missed + 2))
    last, now, skipped = ticks[first], ticks[-1], ticks[first + 1:-1]
    kept = skipped[-MAX_CATCH_UP_TICKS:]
    recent = [t for t in skipped if t >= now - timedelta(days=7)]
    kept = recent if len(recent) > len(kept) else kept

    instance.wipe()  # what each tick requests alone, with no run before it (kept across examples)
    for tick in [*kept, now]:
        if (name, tick) not in ALONE:
            ALONE[name, tick] = [r.partition_key for r in _evaluate(instance, schedule, tick)]
    own = {tick: ALONE[name, tick] for tick in [*kept, now]}
    instance.add_run(dg.DagsterRun(job_name=schedule.job_name, status=dg.DagsterRunStatus.SUCCESS, tags={
        "dagster/schedule_name": name, ".dagster/scheduled_execution_time": last.isoformat()}))
    requests = _evaluate(instance, schedule, now)

    missed: list[str] = []
    for tick in kept:
        missed += [key for key in own[tick] if key not in missed and key not in own[now]]
    catch_up = [r for r in requests if CATCH_UP_TAG in r.tags]
    assert [r.partition_key for r in requests[len(catch_up):]] == own[now]  # this tick's own, last
    if not missed:
        assert not catch_up
    elif name.startswith("report_"):  # one run per period
        assert [r.partition_key for r in catch_up] == missed
    else:  # one run over the range, which holds exactly the missed periods
        [run] = catch_up
        assert run.partition_key is None
        keys = REPOSITORY.get_job(schedule.job_name).partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(run.tags[RANGE_START], run.tags[RANGE_END]))
        assert list(keys) == missed
    assert len({r.run_key for r in requests}) == len(requests)
