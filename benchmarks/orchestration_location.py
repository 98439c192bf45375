"""The code location ``benchmarks/orchestration.py`` launches runs in.

This project's ingest and sessions jobs (with their real assets and resources) and an empty job
(the floor), all on the executor named by ``ANALYTICS_BENCH_EXECUTOR`` (``in_process``: this
project's choice; ``multiprocess``: Dagster's default, the "before"), and one sensor that
launches the runs listed in ``ANALYTICS_BENCH_PLAN`` one after another, as the project's sensors
do: comma-separated groups, each one job name or several joined by ``+`` (launched by one tick,
as schedules with the same cron launch theirs). No other schedule or sensor is loaded, so nothing
else runs. Before defining them it imports the whole code location (``analytics_pipeline.definitions``),
as every run worker of the project does (``ANALYTICS_BENCH_LOCATION=bench`` skips that).
"""

import os

import dagster as dg

from analytics_pipeline import orchestration

if os.environ.get("ANALYTICS_BENCH_EXECUTOR") == "multiprocess":
    orchestration.executor = lambda: dg.multiprocess_executor

if os.environ.get("ANALYTICS_BENCH_LOCATION", "full") == "full":
    # What the project's run workers load before they start: the whole code location (imports,
    # templates, every stage's definitions), though only the jobs below are offered here.
    import analytics_pipeline.definitions  # noqa: E402, F401

from analytics_pipeline.ingestion.definitions import ingest_job, raw_events  # noqa: E402
from analytics_pipeline.resources import default_resources  # noqa: E402
from analytics_pipeline.sessions.definitions import sessions, sessions_job  # noqa: E402

PLAN = [group.split("+") for group in os.environ.get("ANALYTICS_BENCH_PLAN", "").split(",") if group]


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
    launched, done = context.instance.get_runs_count(), 0
    for group in PLAN:
        if done == launched:
            return [dg.RunRequest(job_name=job, tags={**orchestration.job_tags(job), orchestration.TRIGGER_TAG: "benchmark"})
                    for job in group]
        done += len(group)
    return dg.SkipReason(f"all {done} planned runs launched")


defs = dg.Definitions(
    assets=[raw_events, sessions], jobs=[empty_job, sessions_job, ingest_job], sensors=[bench_driver_sensor],
    resources=default_resources(), executor=orchestration.executor(),
)
