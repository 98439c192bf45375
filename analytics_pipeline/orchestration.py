"""Dagster helpers shared by every stage: run guards, Markdown previews, timing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import dagster as dg

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
# run at a time, and the schedules and sensors skip while one is in progress.
SINGLETON_TAG = "analytics/singleton"
OWNER = "team:data-engineering"
# The run-failure sensor routes notifications by this tag (alert_rules/routes.yaml).
OWNER_TAG = "analytics/owner"


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


def non_overlapping_schedule(
    job,
    cron: str,
    *,
    name: str,
    description: str,
    partition_key_fn=None,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
) -> dg.ScheduleDefinition:
    """A UTC schedule for ``job`` that skips (with a reason) while a run of it is in progress.
    ``partition_key_fn(scheduled_time) -> str`` picks the partition for partitioned jobs."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        description=description,
        default_status=default_status,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        skip = skip_if_running(context.instance, job.name)
        if skip is not None:
            return skip
        scheduled = context.scheduled_execution_time
        partition_key = partition_key_fn(scheduled) if partition_key_fn else None
        if partition_key_fn and not _has_partition(job, partition_key):
            return dg.SkipReason(f"no partition {partition_key} for this tick (before ANALYTICS_START_DATE?)")
        run_key = f"{name}:{partition_key or scheduled.isoformat()}"
        return dg.RunRequest(run_key=run_key, partition_key=partition_key,
                             tags={SINGLETON_TAG: job.name, "analytics/trigger": name})

    return _schedule


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
