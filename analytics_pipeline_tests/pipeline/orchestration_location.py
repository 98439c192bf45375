"""A tiny code location for the scheduling and recovery tests, wired with the same helpers as the
real one (singleton tags, non-overlapping schedules, the shared executor):

- ``tiny_daily_job`` builds one day of ``tiny_daily`` from a daily schedule at 01:00 UTC (days
  it missed: one run over their range);
- ``hold_job`` writes its process id to ``$ORCHESTRATION_TEST_DIR/<run id>.pid`` and waits (up to
  two minutes) until that directory holds a ``release`` file, so a test can kill it mid-run;
- ``hold_sensor`` launches ``hold_job`` whenever no run of it is going, at most twice.
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg

from analytics_pipeline.orchestration import executor, job_tags, non_overlapping_schedule, skip_if_running

DAYS = dg.DailyPartitionsDefinition(start_date="2024-03-01", timezone="UTC")
HOLD_RUNS = 2


@dg.asset(partitions_def=DAYS)
def tiny_daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": ",".join(context.partition_keys)})  # a range in one run


tiny_daily_job = dg.define_asset_job("tiny_daily_job", selection=[tiny_daily], partitions_def=DAYS,
                                     tags=job_tags("tiny_daily_job"))
tiny_daily_schedule = non_overlapping_schedule(
    tiny_daily_job, "0 1 * * *", name="tiny_daily_schedule", description="yesterday at 01:00 UTC",
    partition_key_fn=lambda scheduled: (scheduled - timedelta(days=1)).date().isoformat(), catch_up_in_one_run=True,
)


@dg.op
def hold(context: dg.OpExecutionContext) -> None:
    work = Path(os.environ["ORCHESTRATION_TEST_DIR"])
    (work / f"{context.run_id}.pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not (work / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


@dg.job(tags=job_tags("hold_job"))
def hold_job() -> None:
    hold()


@dg.sensor(job=hold_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def hold_sensor(context: dg.SensorEvaluationContext):
    skip = skip_if_running(context.instance, hold_job.name)
    if skip is not None:
        return skip
    launched = context.instance.get_runs_count(dg.RunsFilter(job_name=hold_job.name))
    if launched >= HOLD_RUNS:
        return dg.SkipReason(f"{launched} runs launched: enough for the test")
    return dg.RunRequest(tags=job_tags(hold_job.name))


defs = dg.Definitions(assets=[tiny_daily], jobs=[tiny_daily_job, hold_job], schedules=[tiny_daily_schedule],
                      sensors=[hold_sensor], executor=executor())
