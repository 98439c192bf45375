"""Dagster helpers shared by every stage: run guards, Markdown previews, timing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import dagster as dg

from analytics_pipeline import settings

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
) -> dg.ScheduleDefinition:
    """A UTC schedule for ``job`` that never starts a second copy of a running job.

    ``partition_key_fn(scheduled_time) -> str`` picks the partition for partitioned jobs. A
    partitioned tick always requests its run, even while a run of the job is going: the run is
    tagged with the job's singleton key, and the instance's queued run coordinator (dagster.yaml)
    keeps it QUEUED until the previous run ends, so no period is lost. A tick of a job without
    partitions (session cleanup, cache refresh) skips instead: the next tick does the same work."""

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
        if not _has_partition(job, partition_key):
            return dg.SkipReason(f"no partition {partition_key} for this tick (before ANALYTICS_START_DATE?)")
        running = active_run(context.instance, job.name)
        if running is not None:
            tags[REASON_TAG] = (f"queued behind run {running.run_id[:8]} of {job.name} "
                                f"({running.status.value.lower()}); starts when it ends")
        return dg.RunRequest(run_key=f"{name}:{partition_key}", partition_key=partition_key, tags=tags)

    return _schedule


def _has_partition(job, partition_key: str | None) -> bool:
    partitions_def = getattr(job, "partitions_def", None)
    if partition_key is None:
        return False
    if partitions_def is None:
        return True
    return partitions_def.has_partition_key(partition_key)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None, limit: int = 20) -> str:
    """A Markdown table of the first ``limit`` rows, for materialization previews."""
    rows = list(rows)[:limit]
    if not rows:
        return "_no rows_"
    cols = list(columns) if columns is not None else list(rows[0].keys())

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 80 else text[:77] + "..."

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
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
