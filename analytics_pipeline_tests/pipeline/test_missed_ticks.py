"""Ticks the daemon missed are caught up: a day the daemon was down at 01:00 is still built.

Dagster evaluates only the latest of several missed ticks of a schedule like these; the
schedule helper (``non_overlapping_schedule``) requests the missed ticks' periods too. Driven
through Dagster's own scheduler iterations (as in ``test_tick_meets_running_run.py``) on the
tiny location, whose daily schedule builds yesterday at 01:00 UTC.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from itertools import islice

import dagster as dg
import pytest
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import PythonFileTarget
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster._utils.schedules import schedule_execution_time_iterator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.definitions import defs
from analytics_pipeline.orchestration import CATCH_UP_TAG, MAX_CATCH_UP_TICKS, REASON_TAG
from analytics_pipeline_tests.ingestion.hostile import examples
from analytics_pipeline_tests.pipeline import orchestration_location
from analytics_pipeline_tests.pipeline.test_tick_meets_running_run import REPO

LOGGER = logging.getLogger("missed_ticks")


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def tiny():
    with dg.instance_for_test() as instance:
        target = PythonFileTarget(python_file=orchestration_location.__file__, attribute=None,
                                  working_directory=str(REPO), location_name="tiny")
        with create_test_daemon_workspace_context(target, instance) as workspace:
            yield instance, workspace


def _tick(workspace, moment: datetime) -> None:
    with freeze_time(moment):
        list(launch_scheduled_runs(workspace, LOGGER, moment, {}))


def _requested(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    return {r.tags["dagster/partition"]: r for r in instance.get_runs(dg.RunsFilter(job_name="tiny_daily_job"))}


def _schedule(workspace):
    location = workspace.create_request_context().get_code_location("tiny")
    return location.get_repository("__repository__").get_schedule("tiny_daily_schedule")


def test_days_the_daemon_was_down_are_requested_when_it_comes_back(tiny):
    instance, workspace = tiny
    _tick(workspace, _at(5, 0, 30))  # the scheduler starts
    _tick(workspace, _at(5, 1, 30))
    assert set(_requested(instance)) == {"2024-03-04"}

    _tick(workspace, _at(9, 1, 30))  # down from 03-05 01:30 to 03-09 01:30: four 01:00 ticks missed
    runs = _requested(instance)
    assert sorted(runs) == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    for day, tick in (("2024-03-05", "2024-03-06 01:00"), ("2024-03-06", "2024-03-07 01:00"),
                      ("2024-03-07", "2024-03-08 01:00")):
        assert runs[day].tags[CATCH_UP_TAG] == f"the tick of {tick} UTC was missed"
    assert CATCH_UP_TAG not in runs["2024-03-08"].tags  # the tick evaluated now
    # 03-04's run is still queued here (no queue daemon in this test): this tick's run says so.
    assert runs["2024-03-04"].run_id[:8] in runs["2024-03-08"].tags[REASON_TAG]

    _tick(workspace, _at(9, 1, 31))  # evaluated again: nothing twice
    _tick(workspace, _at(10, 1, 30))  # the next day as usual: no catch-up
    runs = _requested(instance)
    assert sorted(runs) == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08", "2024-03-09"]
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


def test_a_long_outage_catches_up_at_most_a_month_of_ticks(instance):
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    last = datetime(2024, 1, 1, 1, 0, tzinfo=timezone.utc)
    instance.add_run(dg.DagsterRun(job_name="daily_stats_job", status=dg.DagsterRunStatus.SUCCESS, tags={
        "dagster/schedule_name": "daily_aggregation_schedule",
        ".dagster/scheduled_execution_time": last.isoformat(), "dagster/partition": "2023-12-31"}))
    tick = datetime(2024, 3, 2, 1, 0, tzinfo=timezone.utc)

    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    requests = schedules["daily_aggregation_schedule"].evaluate_tick(context).run_requests

    expected = [(tick - timedelta(days=n + 1)).date().isoformat() for n in range(MAX_CATCH_UP_TICKS, -1, -1)]
    assert [r.partition_key for r in requests] == expected  # oldest first, this tick's day last
    assert len({r.run_key for r in requests}) == MAX_CATCH_UP_TICKS + 1
    assert requests[0].tags[CATCH_UP_TAG] == "the tick of 2024-01-31 01:00 UTC was missed"
    assert requests[-1].tags[REASON_TAG] == "queued behind the missed periods; starts after them"


REPOSITORY = defs.get_repository_def()
PARTITIONED = sorted(s.name for s in REPOSITORY.schedule_defs if REPOSITORY.get_job(s.job_name).partitions_def)
ANCHOR = datetime(2024, 2, 1, tzinfo=timezone.utc)
ALONE: dict[tuple[str, datetime], list[str]] = {}


@pytest.fixture(scope="module")
def shared_instance():
    with dg.instance_for_test() as instance:
        yield instance


def _evaluate(instance: dg.DagsterInstance, schedule: dg.ScheduleDefinition, tick: datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick, repository_def=REPOSITORY)
    context._instance = instance  # the instance itself, not a new one from its ref (85 ms each)
    return list(schedule.evaluate_tick(context).run_requests or [])


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

    expected: list[str] = []
    for tick in kept:
        expected += [key for key in own[tick] if key not in expected and key not in own[now]]
    expected += own[now]
    assert [r.partition_key for r in requests] == expected
    assert len({r.run_key for r in requests}) == len(requests)
    assert [CATCH_UP_TAG in r.tags for r in requests] == [True] * (len(expected) - len(own[now])) + [False] * len(own[now])
