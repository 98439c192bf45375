"""A tiny code location for the status tests: a job that succeeds, one that fails, a schedule
and a sensor that always skips."""

import dagster as dg


@dg.op
def count_rows() -> int:
    return 3


@dg.op
def upload(rows: int) -> None:
    raise RuntimeError(f"upload of {rows} rows refused: disk full")


@dg.job
def nightly_job() -> None:
    count_rows()


@dg.job
def upload_job() -> None:
    upload(count_rows())


nightly_schedule = dg.ScheduleDefinition(
    name="nightly_schedule", job=nightly_job, cron_schedule="0 1 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING)


@dg.sensor(job=upload_job, default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def quiet_sensor(context: dg.SensorEvaluationContext):
    return dg.SkipReason("no new files in the landing directory")


defs = dg.Definitions(jobs=[nightly_job, upload_job], schedules=[nightly_schedule], sensors=[quiet_sensor])
