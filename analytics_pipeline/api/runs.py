"""The Dagster instance as the API sees it: job statuses and metrics, and runs submitted to the
run queue. The web process never does pipeline work: it creates a run and submits it; the
Dagster daemon (``make dev``, or ``dagster-daemon run``) launches it in its own process, exactly
as it launches scheduled runs. The runs are recorded for the code location named in
``workspace.yaml`` (``analytics_pipeline``), so the UI and the daemon find them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg

from analytics_pipeline.api.errors import ApiError

LOCATION_NAME = "analytics_pipeline"
DEFINITIONS_MODULE = "analytics_pipeline.definitions"
PARTITION_TAG = "dagster/partition"
DAEMON_FRESH_SECONDS = 120

JOB_STATUS = {
    "success": "completed", "failure": "failed", "canceled": "failed", "canceling": "running",
    "started": "running", "starting": "running", "queued": "running", "not_started": "running",
    "managed": "running", "never_run": "scheduled",
}


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value else None


class DagsterAccess:
    """The instance (``$DAGSTER_HOME`` by default) and the code location, opened on first use."""

    def __init__(self, instance: dg.DagsterInstance | None = None, module: str = DEFINITIONS_MODULE) -> None:
        self._instance = instance
        self.module = module
        self._location = None
        self._defs: dg.Definitions | None = None
        self._lock = threading.Lock()

    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            with self._lock:
                if self._instance is None:
                    try:
                        self._instance = dg.DagsterInstance.get()
                    except Exception as exc:
                        raise ApiError(503, "dagster_unavailable",
                                       "cannot open the Dagster instance: set DAGSTER_HOME (make serve does)",
                                       reason=str(exc).splitlines()[0][:300]) from exc
        return self._instance

    def defs(self) -> dg.Definitions:
        if self._defs is None:
            import importlib

            self._defs = importlib.import_module(self.module).defs
        return self._defs

    def location(self):
        from dagster._core.remote_origin import InProcessCodeLocationOrigin
        from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

        if self._location is None:
            with self._lock:
                if self._location is None:
                    import sys

                    origin = InProcessCodeLocationOrigin(
                        LoadableTargetOrigin(executable_path=sys.executable, module_name=self.module),
                        location_name=LOCATION_NAME)
                    self._location = origin.create_location(self.instance())
        return self._location

    # -- status --------------------------------------------------------------------------
    def daemon_alive(self) -> bool | None:
        """True when a daemon heartbeat is recent (runs get launched); None when unknown."""
        try:
            beats = self.instance().get_daemon_heartbeats()
        except Exception:
            return None
        now = datetime.now(timezone.utc).timestamp()
        return any(now - beat.timestamp < DAEMON_FRESH_SECONDS for beat in beats.values())

    def job_statuses(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The job statuses (running, completed, failed, scheduled) and run metrics, from the instance's runs and ticks."""
        from analytics_pipeline.alerts.status import collect_status

        report = collect_status(self.instance(), self.defs(), since=timedelta(days=7))
        jobs = [{
            "id": j.name, "name": j.name, "status": JOB_STATUS.get(j.status, j.status),
            "dagsterStatus": j.status, "lastRun": iso(j.last_run_at), "nextRun": iso(j.next_tick),
            "duration": j.duration_seconds, "error": j.error, "runId": j.last_run_id,
            "schedules": j.schedules,
        } for j in report.jobs]
        cleanup = self.instance().get_latest_materialization_event(dg.AssetKey("cache_cleanup"))
        m = report.metrics
        metrics = {
            "totalJobs": m.jobs, "successfulJobs": m.successful, "failedJobs": m.failed,
            "runningJobs": m.in_progress, "averageJobDuration": m.average_duration_seconds,
            "lastCleanup": iso(_ts(cleanup.timestamp)) if cleanup is not None else None,
            "since": iso(m.since), "runs": m.runs, "failingJobs": m.failing_jobs,
        }
        return jobs, metrics

    def job_names(self) -> set[str]:
        return {job.name for job in self.defs().get_repository_def().get_all_jobs() if not job.name.startswith("__")}

    # -- runs ----------------------------------------------------------------------------
    def submit(self, job_name: str, *, partition: str | None = None, tags: Mapping[str, str] | None = None,
               run_config: Mapping[str, Any] | None = None, assets: list[str] | None = None) -> dg.DagsterRun:
        """Create a run of ``job_name`` (for ``partition``; of only the assets named in ``assets``)
        and put it on the run queue."""
        from dagster._core.remote_representation.external import RemoteJob  # noqa: F401  (type only)
        from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
        from dagster._core.definitions.selector import JobSubsetSelector

        instance = self.instance()
        if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
            raise ApiError(503, "no_run_queue",
                           "the Dagster instance has no run queue: use the repository's dagster.yaml "
                           "(QueuedRunCoordinator) so the daemon launches runs the API asks for")
        if job_name not in self.job_names():
            raise ApiError(404, "unknown_job", f"no job {job_name!r}")
        location = self.location()
        repo_name = next(iter(location.get_repository_names()))
        repo = location.get_repository(repo_name)
        asset_keys = [dg.AssetKey(a) for a in assets] if assets else None
        remote_job = location.get_job(JobSubsetSelector(location_name=location.name, repository_name=repo_name,
                                                        job_name=job_name, op_selection=None,
                                                        asset_selection=asset_keys))
        job_def = self.defs().resolve_job_def(job_name)
        run_tags = {**remote_job.tags, **(tags or {})}
        if job_def.partitions_def is not None:
            if partition is None:
                raise ApiError(400, "partition_required", f"{job_name} is partitioned: give a partition",
                               field="partition")
            if not job_def.partitions_def.has_partition_key(partition):
                raise ApiError(400, "invalid_partition", f"{partition!r} is not a partition of {job_name}",
                               field="partition")
            run_tags[PARTITION_TAG] = partition
        elif partition is not None:
            raise ApiError(400, "not_partitioned", f"{job_name} has no partitions", field="partition")
        config = dict(run_config or {})
        plan = location.get_execution_plan(remote_job, config, step_keys_to_execute=None, known_state=None,
                                           instance=instance)
        snapshot = plan.execution_plan_snapshot
        run = instance.create_run(
            job_name=job_name, run_id=None, run_config=config,
            resolved_op_selection=remote_job.resolved_op_selection,
            step_keys_to_execute=snapshot.step_keys_to_execute, op_selection=None, status=None,
            root_run_id=None, parent_run_id=None, tags=run_tags, job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=snapshot, parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(), job_code_origin=remote_job.get_python_origin(),
            asset_selection=frozenset(asset_keys) if asset_keys else None, asset_check_selection=None,
            asset_graph=repo.asset_graph,
        )
        return instance.submit_run(run.run_id, workspace=None)

    def run_status(self, run_id: str) -> dict[str, Any] | None:
        record = self.instance().get_run_record_by_id(run_id)
        if record is None:
            return None
        run = record.dagster_run
        status = run.status.value.lower()
        error = None
        if run.status == dg.DagsterRunStatus.FAILURE:
            from analytics_pipeline.alerts.status import run_error

            error = run_error(self.instance(), run_id)
        return {
            "runId": run.run_id, "job": run.job_name,
            "status": {"success": "completed", "failure": "failed", "canceled": "canceled",
                       "queued": "queued", "not_started": "queued"}.get(status, "running"),
            "dagsterStatus": status, "partition": run.tags.get(PARTITION_TAG),
            "createdAt": iso(record.create_timestamp), "startedAt": iso(_ts(record.start_time)),
            "endedAt": iso(_ts(record.end_time)), "error": error,
        }
