"""Run launchers: Dagster's default one made checkable by run monitoring, and a warm one.

The default launcher starts each run as a subprocess of the code server. When only the run's
process dies, the code server notices and marks the run failed. When the code server dies too
(or is restarted by a reload), nobody is left to notice: the run stays STARTED forever and, with
one run of a job at a time, blocks every later run of that job. Dagster's run monitoring (the
daemon) asks the launcher whether a run's worker is still alive, but the default launcher cannot
answer. :class:`MonitoredRunLauncher` answers from what the run records: the code server that
started it (the ``.dagster/grpc_info`` tag) and the run worker's process id (its RUN_START
event). Run monitoring then marks such runs failed.

:class:`WarmRunLauncher` (dagster.yaml's choice on one machine) starts each run's worker by forking
a process that has already imported Dagster and its instance storage, instead of a new Python
that imports them again: the worker runs ``dagster api execute_run``'s own body,
as Dagster's container launchers do, and imports the code location afresh, so a reloaded
location's new code is what runs. It is checked by run monitoring the same way, from the
worker's process id, and a run is cancelled by interrupting its worker (what the code server
does for the default launcher).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import deserialize_value

if TYPE_CHECKING:
    from dagster._grpc.client import DagsterGrpcClient

# The gRPC client (and grpc itself) is imported when a code server is asked, not with this module:
# the code location imports it (alerts.status), run workers never ask a code server.

PING_TIMEOUT_SECONDS = 5
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class CodeServer:
    """Where a run's code server listened (from the run's grpc_info tag)."""

    host: str
    port: int | None
    socket: str | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port else f"socket {self.socket}"

    @property
    def is_local(self) -> bool:
        return self.socket is not None or self.host in LOCAL_HOSTS

    def client(self) -> DagsterGrpcClient:
        from dagster._grpc.client import DagsterGrpcClient

        return DagsterGrpcClient(port=self.port, socket=self.socket, host=self.host)

    def current_runs(self, timeout: int = PING_TIMEOUT_SECONDS) -> list[str]:
        """The run ids this code server is executing; raises when it does not answer."""
        from dagster._grpc.__generated__ import dagster_api_pb2
        from dagster._grpc.types import GetCurrentRunsResult

        response = self.client()._query("GetCurrentRuns", dagster_api_pb2.Empty, timeout=timeout)
        return list(deserialize_value(response.serialized_current_runs, GetCurrentRunsResult).current_runs)

    def unreachable_reason(self, timeout: int = PING_TIMEOUT_SECONDS) -> str | None:
        """None when the code server answers, else why not (one line)."""
        try:
            self.current_runs(timeout)
        except Exception as exc:  # grpc raises its own error types; any failure means unreachable
            return _first_line(exc)
        return None


def code_server_of(run: dg.DagsterRun) -> CodeServer | None:
    """The code server that started ``run``, if the default launcher started it."""
    raw = run.tags.get(GRPC_INFO_TAG)
    if not raw:
        return None
    info = json.loads(raw)
    return CodeServer(host=info.get("host") or "localhost", port=info.get("port"), socket=info.get("socket"))


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process id of the run's worker, from its RUN_START event."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    return records[0].event_log_entry.dagster_event.pid


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def run_worker_health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    """RUNNING while the run's code server still executes it (or, code server gone, while its
    worker process still exists on this machine); FAILED otherwise, saying which."""
    server = code_server_of(run)
    if server is None:
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no code server recorded for this run")
    try:
        if run.run_id in server.current_runs():
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        where = f"code server {server.address} is up but no longer executes this run"
    except Exception as exc:
        where = f"code server {server.address} does not answer ({_first_line(exc)})"
    pid = run_worker_pid(instance, run.run_id)
    if pid is not None and server.is_local and process_alive(pid):
        # An orphaned worker keeps going and records its own end.
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"{where}; run worker pid {pid} still running")
    gone = f"run worker pid {pid} is gone" if pid is not None else "the run worker never started"
    return CheckRunHealthResult(WorkerStatus.FAILED, f"{where}, and {gone}")


class MonitoredRunLauncher(DefaultRunLauncher):
    """The default launcher (a subprocess of the code server per run) with a worker health check,
    so that run monitoring fails runs whose code server or worker died."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        result = run_worker_health(self._instance, run)
        if result.status == WorkerStatus.UNKNOWN:
            # Not started by this launcher (e.g. an in-process materialization): not ours to judge.
            return CheckRunHealthResult(WorkerStatus.RUNNING, result.msg)
        return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# -- the warm launcher ---------------------------------------------------------------------------
# {"host": ..., "pid": ...} of a worker the warm launcher started. Under ".dagster/", like the
# default launcher's grpc_info tag, so the UI keeps it with the system tags, off the Runs page.
WARM_TAG = ".dagster/analytics_run_worker"
# What the fork server imports once: Dagster's run-worker side, its instance storage (alembic,
# SQLAlchemy's dialects, the SQLite run, event and schedule storages: about 0.6 s a worker would
# otherwise import again) and the libraries the code location imports (psycopg and
# dagster_postgres for PostgreSQL deployments). Each entry after the first adds modules the
# others do not import. Not the code location itself: each worker imports it, so that a
# reloaded location runs its new code. The fork server skips a module that cannot be imported.
WARM_PRELOAD = [
    "dagster",
    "dagster._cli.api",
    "dagster._core.instance.factory",
    "dagster._core.storage.root",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.executor.in_process",
    "dagster._core.execution.plan.active",
    "dagster._core.workspace.autodiscovery",
    "dagster_postgres",
    "jinja2",
    "upath",
    "orjson",
    "psycopg",
]


def _warm_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WARM_PRELOAD)
    return context


def _run_worker(input_json: str, working_directory: str | None) -> None:
    """A run's worker: ``dagster api execute_run INPUT_JSON``, in a forked, warm process."""
    # What the fork server imported stays as it is: without this, the collector walks those
    # objects in every worker and copies the pages it touches (0.25 s more in an ingest run).
    gc.freeze()
    if working_directory:
        os.chdir(working_directory)
    from dagster._cli.api import execute_run_command

    execute_run_command.callback(input_json, None)


def warm_worker(run: dg.DagsterRun) -> tuple[str, int] | None:
    """(host, pid) of the run's worker when the warm launcher started it."""
    raw = run.tags.get(WARM_TAG)
    if not raw:
        return None
    info = json.loads(raw)
    return info["host"], int(info["pid"])


class WarmRunLauncher(MonitoredRunLauncher):
    """Runs in worker processes forked from a fork server that has imported Dagster (see the
    module docstring), on the machine and in the Python environment of the process that launches
    them (the daemon). A location in another Python environment is launched by its code server,
    and runs this launcher did not start (e.g. from before a switch) are judged and terminated
    as :class:`MonitoredRunLauncher`'s."""

    def launch_run(self, context) -> None:  # type: ignore[no-untyped-def]
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value

        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or os.path.realpath(origin.executable_path) != os.path.realpath(sys.executable):
            # A location in another Python environment: its own code server starts the run.
            return super().launch_run(context)
        args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        # The code server runs in its location's working directory; so does the worker.
        working_directory = getattr(origin.repository_origin.code_pointer, "working_directory", None)
        process = _warm_context().Process(target=_run_worker, args=(serialize_value(args), working_directory),
                                          name=f"dagster-run-{run.run_id[:8]}")
        process.start()
        # The worker outlives this process (a daemon restart leaves runs going, as the code
        # server's do): not joined at exit, its exit status collected by the fork server.
        multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
        self._instance.add_run_tags(run.run_id, {WARM_TAG: json.dumps({"host": socket.gethostname(),
                                                                        "pid": process.pid})})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        worker = warm_worker(run) if run is not None else None
        if worker is None:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        host, pid = worker
        if host != socket.gethostname() or not process_alive(pid):
            return False
        os.kill(pid, signal.SIGINT)  # the worker cancels the run, as on the code server's request
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = warm_worker(run)
        if worker is None:
            return super().check_run_worker_health(run)
        host, pid = worker
        if host != socket.gethostname():
            # Another machine's process (a daemon moved to a new host): not ours to judge, as in
            # MonitoredRunLauncher; run monitoring's timeouts still apply.
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} runs on {host}")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone")
