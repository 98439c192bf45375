"""The code location ``benchmarks/orchestration.py`` launches runs in.

This project's ingest and sessions jobs (with their real assets and resources), an empty job
(the floor), all on the executor named by ``ANALYTICS_BENCH_EXECUTOR`` (``in_process``: this
project's choice; ``multiprocess``: Dagster's default, the "before"), and one sensor that
launches the runs listed in ``ANALYTICS_BENCH_PLAN`` (comma-separated job names) one after
another, as the project's sensors do. No other schedule or sensor is loaded, so nothing else runs.
"""

import os

import dagster as dg

from analytics_pipeline import orchestration

if os.environ.get("ANALYTICS_BENCH_EXECUTOR") == "multiprocess":
    orchestration.executor = lambda: dg.multiprocess_executor

from analytics_pipeline.ingestion.definitions import ingest_job, raw_events  # noqa: E402
from analytics_pipeline.resources import default_resources  # noqa: E402
from analytics_pipeline.sessions.definitions import sessions, sessions_job  # noqa: E402

PLAN = [name for name in os.environ.get("ANALYTICS_BENCH_PLAN", "").split(",") if name]


@dg.op
def nothing() -> None:
    """The floor: a step that does no work."""


@dg.job(tags=orchestration.job_tags("empty_job"))
def empty_job() -> None:
    nothing()


@dg.sensor(jobs=[empty_job, sessions_job, ingest_job], minimum_interval_seconds=1,
           default_status=dg.DefaultSensorStatus.RUNNING)
def bench_driver_sensor(context: dg.SensorEvaluationContext):
    if context.instance.get_runs_count(dg.RunsFilter(statuses=orchestration.IN_PROGRESS)):
        return dg.SkipReason("waiting for the previous benchmark run")
    launched = context.instance.get_runs_count()
    if launched >= len(PLAN):
        return dg.SkipReason(f"all {len(PLAN)} planned runs launched")
    job = PLAN[launched]
    return dg.RunRequest(job_name=job, tags={**orchestration.job_tags(job), orchestration.TRIGGER_TAG: "benchmark"})


defs = dg.Definitions(
    assets=[raw_events, sessions], jobs=[empty_job, sessions_job, ingest_job], sensors=[bench_driver_sensor],
    resources=default_resources(), executor=orchestration.executor(),
)
