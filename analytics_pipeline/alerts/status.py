"""Job status and metrics (the seed's getJobStatuses / getJobMetrics) from a Dagster instance.

Reads runs and ticks from the instance and the jobs, schedules and sensors from the code
location's :class:`dagster.Definitions`; changes nothing. ``analytics-pipeline status`` prints it.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.scheduler.instigation import InstigatorType
from dagster._utils.schedules import cron_string_iterator

from analytics_pipeline.alerts.checks import root_error_line
from analytics_pipeline.run_launcher import code_server_of

# No sensor tick for this long (every sensor here ticks at least every 10 minutes) means the
# sensors are not being evaluated: the daemon is down, or it cannot reach the code location.
STALE_TICKS = timedelta(minutes=15)
DAEMON_ALIVE_WITHIN = timedelta(minutes=5)
IN_PROGRESS_WITH_A_WORKER = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
PING_SECONDS = 2
ASSET_JOB = "__ASSET_JOB"  # ad-hoc materializations (UI "Materialize", dg.materialize, backfills)


@dataclass
class JobStatus:
    name: str
    status: str  # success | failure | started | queued | canceled | ... | never_run
    last_run_id: str | None = None
    last_run_at: datetime | None = None  # start (or creation when it never started)
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    next_tick: datetime | None = None
    schedules: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class InstigatorStatus:
    name: str
    kind: str  # schedule | sensor
    state: str  # running | stopped
    target: str | None = None
    cron: str | None = None
    last_tick_at: datetime | None = None
    last_tick_status: str | None = None  # success | skipped | failure | started
    last_tick_note: str | None = None  # skip reason or error
    next_tick: datetime | None = None


@dataclass
class JobMetrics:
    since: datetime
    jobs: int
    runs: int
    successful: int
    failed: int
    in_progress: int
    average_duration_seconds: float | None
    failing_jobs: list[str]


@dataclass
class StatusReport:
    generated_at: datetime
    jobs: list[JobStatus]
    instigators: list[InstigatorStatus]
    metrics: JobMetrics
    problems: list[str] = field(default_factory=list)  # code location or daemon not working

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        return clean(asdict(self))


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value else None


def run_error(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """First line of the first step failure's error (else the run failure's message)."""
    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.STEP_FAILURE}, limit=5).records
    for record in records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            return f"{event.step_key}: {root_error_line(error)}"
    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.RUN_FAILURE}, limit=1).records
    for record in records:
        event = record.event_log_entry.dagster_event
        message = (event.message if event else None) or record.event_log_entry.user_message
        if message:
            return message.strip().splitlines()[0]
    return None


def next_fire(cron: str, timezone_name: str | None, now: datetime) -> datetime:
    return next(cron_string_iterator(now.timestamp(), cron, timezone_name or "UTC")).astimezone(timezone.utc)


def _instigator_states(instance: dg.DagsterInstance) -> dict[tuple[str, str], Any]:
    states = {}
    for kind, itype in (("schedule", InstigatorType.SCHEDULE), ("sensor", InstigatorType.SENSOR)):
        for state in instance.all_instigator_state(instigator_type=itype):
            states[(kind, state.instigator_name)] = state
    return states


def _instigator(instance: dg.DagsterInstance, kind: str, definition: Any, stored: Any,
                now: datetime) -> InstigatorStatus:
    default_running = definition.default_status.value == "RUNNING"
    if stored is not None and stored.status.value in ("RUNNING", "STOPPED"):
        running = stored.status.value == "RUNNING"
    else:
        running = default_running
    target = None
    try:
        target = definition.job_name
    except Exception:  # sensors without a target job
        target = None
    row = InstigatorStatus(name=definition.name, kind=kind, state="running" if running else "stopped",
                           target=target)
    if kind == "schedule":
        row.cron = str(definition.cron_schedule)
        if running:
            row.next_tick = next_fire(row.cron, definition.execution_timezone, now)
    if stored is not None:
        ticks = instance.get_ticks(stored.instigator_origin_id, stored.selector_id, limit=1)
        if ticks:
            tick = ticks[0]
            row.last_tick_at = _ts(tick.timestamp)
            row.last_tick_status = tick.status.value.lower()
            if tick.error is not None:
                row.last_tick_note = tick.error.message.strip().splitlines()[0]
            elif tick.skip_reason:
                row.last_tick_note = tick.skip_reason
            interval = getattr(definition, "minimum_interval_seconds", None)
            if kind == "sensor" and running and interval and row.last_tick_at:
                row.next_tick = max(row.last_tick_at + timedelta(seconds=interval), now)
    return row


def collect_status(instance: dg.DagsterInstance, defs: dg.Definitions, *, now: datetime | None = None,
                   since: timedelta = timedelta(days=7)) -> StatusReport:
    """Per job: its last run; per schedule and sensor: state, last tick, next tick; and run
    totals over the last ``since``."""
    now = now or datetime.now(timezone.utc)
    repo = defs.get_repository_def()
    states = _instigator_states(instance)
    instigators = [_instigator(instance, "schedule", s, states.get(("schedule", s.name)), now)
                   for s in sorted(repo.schedule_defs, key=lambda s: s.name)]
    instigators += [_instigator(instance, "sensor", s, states.get(("sensor", s.name)), now)
                    for s in sorted(repo.sensor_defs, key=lambda s: s.name)]

    jobs: list[JobStatus] = []
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        records = instance.get_run_records(filters=dg.RunsFilter(job_name=job.name), limit=1)
        row = JobStatus(name=job.name, status="never_run")
        row.schedules = [i.name for i in instigators if i.kind == "schedule" and i.target == job.name]
        ticks = [i.next_tick for i in instigators if i.name in row.schedules and i.next_tick]
        row.next_tick = min(ticks) if ticks else None
        if records:
            record = records[0]
            run = record.dagster_run
            row.status = run.status.value.lower()
            row.last_run_id = run.run_id
            row.last_run_at = _ts(record.start_time) or record.create_timestamp.astimezone(timezone.utc)
            row.finished_at = _ts(record.end_time)
            if record.start_time and record.end_time:
                row.duration_seconds = round(record.end_time - record.start_time, 3)
            if run.status == dg.DagsterRunStatus.FAILURE:
                row.error = run_error(instance, run.run_id)
        elif job.name == ASSET_JOB:
            continue  # only shown once something ran ad hoc
        jobs.append(row)

    recent = instance.get_run_records(filters=dg.RunsFilter(created_after=now - since))
    durations = [r.end_time - r.start_time for r in recent if r.start_time and r.end_time]
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    metrics = JobMetrics(
        since=now - since,
        jobs=len([j for j in jobs if j.name != ASSET_JOB]),
        runs=len(recent),
        successful=sum(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in recent),
        failed=sum(r.dagster_run.status == dg.DagsterRunStatus.FAILURE for r in recent),
        in_progress=sum(r.dagster_run.status not in finished for r in recent),
        average_duration_seconds=round(statistics.fmean(durations), 3) if durations else None,
        failing_jobs=[j.name for j in jobs if j.status == "failure"],
    )
    problems = unreachable_code_servers(instance) + stalled_ticks(instance, instigators, now)
    return StatusReport(generated_at=now, jobs=jobs, instigators=instigators, metrics=metrics,
                        problems=problems)


def unreachable_code_servers(instance: dg.DagsterInstance) -> list[str]:
    """One line per code server that started a run still in progress and does not answer now."""
    by_server: dict[Any, list[dg.DagsterRun]] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS_WITH_A_WORKER)):
        server = code_server_of(run)
        if server is not None:
            by_server.setdefault(server, []).append(run)
    problems = []
    for server, runs in by_server.items():
        reason = server.unreachable_reason(timeout=PING_SECONDS)
        if reason is None:
            continue
        origin = runs[0].remote_job_origin
        location = origin.location_name if origin is not None else "?"
        listed = ", ".join(f"{r.run_id[:8]} ({r.job_name}, {r.status.value.lower()})" for r in runs[:5])
        problems.append(
            f"code location {location} is unreachable: its code server {server.address} does not answer "
            f"({reason}). Run(s) {listed} cannot finish; run monitoring marks them failed. Until the "
            "code server is back (restart `make dev` or the code server), no schedule or sensor ticks.")
    return problems


def stalled_ticks(instance: dg.DagsterInstance, instigators: list[InstigatorStatus], now: datetime) -> list[str]:
    """A line when running sensors have stopped ticking, saying whether the daemon is alive."""
    ticked = [i.last_tick_at for i in instigators if i.kind == "sensor" and i.state == "running" and i.last_tick_at]
    if not ticked or now - max(ticked) <= STALE_TICKS:
        return []
    newest = max(ticked)
    beats = [b.timestamp for b in instance.get_daemon_heartbeats().values() if b is not None]
    alive = bool(beats) and now.timestamp() - max(beats) <= DAEMON_ALIVE_WITHIN.total_seconds()
    since = f"no sensor has ticked since {newest:%Y-%m-%d %H:%M} UTC"
    if alive:
        return [f"{since} although the daemon is running: the code location is unreachable or fails "
                "to load (the daemon's log says which); restart the code server (`make dev`)"]
    return [f"{since}: the daemon is not running, so no schedule, sensor or queued run moves "
            "(start `make dev`, or `dagster-daemon run`)"]
