"""Dagster helpers shared by every stage: run guards, Markdown previews, timing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    SCHEDULE_NAME_TAG,
    SCHEDULED_EXECUTION_TIME_TAG,
)
from dagster._utils.schedules import schedule_execution_time_iterator

from analytics_pipeline import settings
from analytics_pipeline.safe_text import markdown_cell

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
# Tag every run of a job with its name under this key: dagster.yaml limits each value to one
# run at a time: a run submitted while another is going waits in QUEUED.
SINGLETON_TAG = "analytics/singleton"
OWNER = "team:data-engineering"
# The run-failure sensor routes notifications by this tag (alert_rules/routes.yaml).
OWNER_TAG = "analytics/owner"
# What launched a run and why: shown as tags on the Runs page.
TRIGGER_TAG = "analytics/trigger"
REASON_TAG = "analytics/reason"
# On a run a schedule requested for a tick it missed (the daemon was down then).
CATCH_UP_TAG = "analytics/catch_up"
# A schedule catches up at most this many missed ticks (a month of daily ones), or every missed
# tick of the last week when that is more (an hourly schedule: up to 168).
MAX_CATCH_UP_TICKS = 31
CATCH_UP_WINDOW = timedelta(days=7)


def job_tags(job_name: str, owner: str = OWNER) -> dict[str, str]:
    """Tags of every job: its singleton key and its owner."""
    return {SINGLETON_TAG: job_name, OWNER_TAG: owner}


def warehouse_kind() -> str:
    """The Dagster kind of the configured warehouse, for asset badges."""
    return "postgres" if settings.database_url().startswith("postgres") else "sqlite"


def active_run(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun | None:
    """A run of ``job_name`` that has not finished yet, if any."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS), limit=1
    )
    return runs[0] if runs else None


def skip_if_running(instance: dg.DagsterInstance, job_name: str) -> dg.SkipReason | None:
    """A ``SkipReason`` the UI shows when the previous run of ``job_name`` is still going."""
    run = active_run(instance, job_name)
    if run is None:
        return None
    return dg.SkipReason(
        f"previous run {run.run_id[:8]} of {job_name} is still {run.status.value.lower()}; "
        "not starting a second copy"
    )


def executor() -> dg.ExecutorDefinition:
    """The executor of every job in this code location, chosen in one place.

    In-process: each job's steps are small and run one after another (ingest then sessions, one
    statistics asset, one report), so a process per step (Dagster's multiprocess default) costs
    seconds of interpreter start for work that takes well under a second. A deployment that runs
    steps elsewhere (Celery, Kubernetes) replaces this function's result."""
    return dg.in_process_executor


def explain_idle_ticks(sensor: dg.SensorDefinition, reason: str) -> dg.SensorDefinition:
    """Make a tick that returns nothing say ``reason`` in the UI instead of Dagster's "Sensor
    function returned an empty result" (run-status sensors yield nothing when no run matched).
    Wraps the definition's evaluation function, the only hook Dagster offers for it."""
    evaluate = sensor._evaluation_fn

    def _evaluate(context: dg.SensorEvaluationContext):
        result = evaluate(context)
        return result if result and result != [None] else [dg.SkipReason(reason)]

    sensor._evaluation_fn = _evaluate
    return sensor


def non_overlapping_schedule(
    job,
    cron: str,
    *,
    name: str,
    description: str,
    partition_key_fn=None,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
    catch_up_in_one_run: bool = False,
) -> dg.ScheduleDefinition:
    """A UTC schedule for ``job`` that never starts a second copy of a running job.

    ``partition_key_fn(scheduled_time) -> str`` picks the partition for partitioned jobs. A
    partitioned tick always requests its run, even while a run of the job is going: the run is
    tagged with the job's singleton key, and the instance's queued run coordinator (dagster.yaml)
    keeps it QUEUED until the previous run ends, so no period is lost. A tick of a job without
    partitions (session cleanup, cache refresh) skips instead: the next tick does the same work.

    A partitioned tick also requests the periods of the ticks the daemon missed
    (:func:`missed_ticks`): one run over their range when ``catch_up_in_one_run`` (jobs whose
    assets build a range of partitions in one run, as statistics and metrics do), else one run per
    period (reports: each period is its own deliverable)."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        description=description,
        default_status=default_status,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time
        tags = {SINGLETON_TAG: job.name, TRIGGER_TAG: name}
        if partition_key_fn is None:
            skip = skip_if_running(context.instance, job.name)
            if skip is not None:
                return skip
            return dg.RunRequest(run_key=f"{name}:{scheduled.isoformat()}", tags=tags)
        partition_key = partition_key_fn(scheduled)
        missed: dict[str, datetime] = {}  # period -> its (first) missed tick; ticks can share a period
        for tick in missed_ticks(context.instance, name, cron, scheduled):
            key = partition_key_fn(tick)
            if key != partition_key and key not in missed and _has_partition(job, key):
                missed[key] = tick
        running = active_run(context.instance, job.name)
        if running is not None:
            tags[REASON_TAG] = (f"queued behind run {running.run_id[:8]} of {job.name} "
                                f"({running.status.value.lower()}); starts when it ends")
        requests = _catch_up_requests(name, missed, tags, catch_up_in_one_run)
        if not _has_partition(job, partition_key):
            return requests or dg.SkipReason(
                f"no partition {partition_key} for this tick (before ANALYTICS_START_DATE?)")
        if requests and running is None:
            tags[REASON_TAG] = "queued behind the missed periods; starts after them"
        return requests + [dg.RunRequest(run_key=f"{name}:{partition_key}", partition_key=partition_key, tags=tags)]

    return _schedule


def _catch_up_requests(name: str, missed: dict[str, datetime], tags: dict[str, str],
                       in_one_run: bool) -> list[dg.RunRequest]:
    if not missed:
        return []
    if not in_one_run:
        return [dg.RunRequest(run_key=f"{name}:{key}", partition_key=key,
                              tags={**tags, CATCH_UP_TAG: _missed_text([tick])})
                for key, tick in missed.items()]
    keys = list(missed)  # in tick order, so in time order
    first, last = keys[0], keys[-1]
    return [dg.RunRequest(run_key=f"{name}:{first}...{last}", tags={
        # The periods first: the Runs page shows a range run's tags cut short, and no partition.
        **tags, CATCH_UP_TAG: f"{first}...{last}: {_missed_text(list(missed.values()))}",
        ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})]


def _missed_text(ticks: list[datetime]) -> str:
    """The catch-up tag's text for ``ticks`` (oldest first)."""
    if len(ticks) == 1:
        return f"the tick of {ticks[0]:%Y-%m-%d %H:%M} UTC was missed"
    return f"{len(ticks)} ticks were missed, {ticks[0]:%Y-%m-%d %H:%M} .. {ticks[-1]:%Y-%m-%d %H:%M} UTC"


def missed_ticks(instance: dg.DagsterInstance, schedule_name: str, cron: str, scheduled: datetime) -> list[datetime]:
    """The ticks of ``schedule_name`` before ``scheduled`` that were never evaluated (the daemon
    was down): those after the tick of its latest run, and after it was last started (a
    schedule stopped on purpose does not catch up its stopped time), oldest first: the latest
    ``MAX_CATCH_UP_TICKS`` of them, or all of the last ``CATCH_UP_WINDOW`` when that is more.

    Dagster itself evaluates only the latest of several missed ticks of these schedules (late,
    when the daemon is back), so without this a daemon down over a weekend would build Sunday
    and never Saturday."""
    # The latest few runs: a re-execution of an old run carries that run's tick.
    runs = instance.get_runs(dg.RunsFilter(tags={SCHEDULE_NAME_TAG: schedule_name}), limit=10)
    ticks_run = [datetime.fromisoformat(r.tags[SCHEDULED_EXECUTION_TIME_TAG]).timestamp()
                 for r in runs if r.tags.get(SCHEDULED_EXECUTION_TIME_TAG)]
    if not ticks_run:
        return []  # never ran: a new schedule starts from its current tick
    since = max(ticks_run)
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
        data = state.instigator_data
        if state.name == schedule_name and isinstance(data, ScheduleInstigatorData) and data.start_timestamp:
            since = max(since, data.start_timestamp)
    ticks: list[datetime] = []
    for tick in schedule_execution_time_iterator(since, cron, "UTC"):
        if tick >= scheduled:
            break
        if tick.timestamp() > since:
            ticks.append(tick)
    kept = ticks[-MAX_CATCH_UP_TICKS:]
    recent = [t for t in ticks if t >= scheduled - CATCH_UP_WINDOW]
    kept = recent if len(recent) > len(kept) else kept
    if len(kept) < len(ticks):
        dg.get_dagster_logger().warning(
            f"{schedule_name}: {len(ticks)} ticks were missed; catching up the latest {len(kept)} "
            f"(from {kept[0]:%Y-%m-%d %H:%M} UTC); backfill the earlier ones from the UI")
    return kept


def _has_partition(job, partition_key: str | None) -> bool:
    partitions_def = getattr(job, "partitions_def", None)
    if partition_key is None:
        return False
    if partitions_def is None:
        return True
    return partitions_def.has_partition_key(partition_key)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None, limit: int = 20) -> str:
    """A Markdown table of the first ``limit`` rows, for materialization previews. Any text
    renders as itself: control characters are shown as symbols, Markdown and HTML syntax is
    escaped, so every row has exactly one cell per column (see :mod:`safe_text`)."""
    rows = list(rows)[:limit]
    if not rows:
        return "_no rows_"
    cols = list(columns) if columns is not None else list(rows[0].keys())
    lines = ["| " + " | ".join(markdown_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(markdown_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["seconds"]``."""
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = round(time.perf_counter() - start, 4)
