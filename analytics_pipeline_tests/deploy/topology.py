"""The production topology of deploy/, started on this machine for a test: a code server, the
webserver and the daemon as separate processes on a PostgreSQL instance, and two Celery workers
on a RabbitMQ virtual host of their own. Every process is its own process group, so stopping it
stops its children too (the run workers the code server spawns, the workers' pool processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
RABBITMQ_HOST = os.environ.get("ANALYTICS_TEST_RABBITMQ_HOST", "127.0.0.1")
LOCATION = "analytics_pipeline"
REPOSITORY = "__repository__"


class TopologyError(RuntimeError):
    """A process of the topology did not come up, or a run did not finish in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmq_unreachable() -> str | None:
    """None when the broker accepts TCP connections and ``rabbitmqctl`` is installed."""
    try:
        socket.create_connection((RABBITMQ_HOST, 5672), timeout=3).close()
    except OSError as exc:
        return f"RabbitMQ on {RABBITMQ_HOST}:5672: {exc}"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl is not installed (needed to make a throwaway virtual host)"
    return None


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A throwaway virtual host for guest, deleted afterwards (queues and all); yields its name."""
    name = f"analytics_test_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def postgres_databases(admin_dsn: str, *labels: str) -> Iterator[dict[str, str]]:
    """Throwaway databases, one per label; yields label -> database name; drops them all."""
    suffix = uuid.uuid4().hex[:6]
    names = {label: f"analytics_test_{label}_{os.getpid()}_{suffix}" for label in labels}
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as admin:
            for name in names.values():
                admin.execute(f'CREATE DATABASE "{name}"')
        yield names
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.popen.poll()}) ---\n{text[-chars:]}"


@dataclass
class Topology:
    env: dict[str, str]
    workdir: Path
    webserver_port: int
    code_server_port: int
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Process:
        log = self.workdir / f"{name}.log"
        popen = subprocess.Popen(args, env=self.env, cwd=self.workdir, stdout=log.open("wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL what is left after 5 s."""
        for p in self.processes:
            _signal_group(p.popen, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.processes:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.processes:
            _signal_group(p.popen, signal.SIGKILL)  # the group: children outlive a clean parent exit too
            p.popen.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.tail() for p in self.processes)

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.popen.poll() is not None:
                    raise TopologyError(f"{p.name} exited while waiting for {what}\n{self.logs()}")
            try:
                if ready():
                    return
            except Exception:  # not up yet: connection refused, still loading
                pass
            time.sleep(0.5)
        raise TopologyError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")

    # -- GraphQL against the webserver ------------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise TopologyError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_run(self, job_name: str, tags: dict[str, str] | None = None) -> str:
        data = self.graphql(LAUNCH_RUN, {"executionParams": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }})["launchRun"]
        if data["__typename"] != "LaunchRunSuccess":
            raise TopologyError(f"launching {job_name}: {data}")
        return data["run"]["runId"]

    def launch_asset_backfill(self, asset: str, partitions: list[str]) -> str:
        data = self.graphql(LAUNCH_BACKFILL, {"params": {
            "assetSelection": [{"path": [asset]}], "partitionNames": partitions,
        }})["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise TopologyError(f"backfilling {asset}: {data}")
        return data["backfillId"]


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass


LAUNCH_RUN = """
mutation($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""


@contextmanager
def running_topology(env: dict[str, str], workdir: Path, workers: int = 2) -> Iterator[Topology]:
    """Start the code server, the webserver, the daemon and ``workers`` Celery workers from the
    deploy/ files; yield once the code server and the webserver answer; stop everything after."""
    code_server_port, webserver_port = free_port(), free_port()
    env = {**env, "ANALYTICS_CODE_SERVER_HOST": "127.0.0.1", "ANALYTICS_CODE_SERVER_PORT": str(code_server_port),
           "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    topology = Topology(env, workdir, webserver_port, code_server_port)
    # The instance's tables first, once: the processes below would otherwise all create them
    # at the same moment on the empty database, and one of them can lose that race and exit
    # (seen: a Celery worker, on pg_type's unique index). Under docker-compose a lost race
    # only restarts the service; here nothing restarts it.
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=env, cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    try:
        topology.start("code-server", [str(BIN / "dagster"), "code-server", "start", "-m", "analytics_pipeline.definitions",
                                       "--location-name", LOCATION, "-h", "127.0.0.1", "-p", str(code_server_port)])
        for i in range(1, workers + 1):
            # One pool process each: two workers on a 2-core machine; the module is imported
            # before the fork so the first step does not pay for it.
            topology.start(f"celery-worker-{i}", [
                str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                "-y", str(DEPLOY / "celery.yaml"), "-n", f"analytics-{i}@%h",
                "-i", "analytics_pipeline.definitions", "--loglevel", "WARNING", "--", "--concurrency=1",
            ])
        workspace = ["-w", str(DEPLOY / "workspace.yaml")]
        topology.start("webserver", [str(BIN / "dagster-webserver"), *workspace, "-h", "127.0.0.1",
                                     "-p", str(webserver_port)])
        topology.start("daemon", [str(BIN / "dagster-daemon"), "run", *workspace])
        topology.wait_until("the code server and the webserver", lambda: _location_loaded(topology), timeout=120)
        yield topology
    finally:
        topology.stop()


def _location_loaded(topology: Topology) -> bool:
    data = topology.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
        name locationOrLoadError { __typename } } } } }""")
    entries = data["workspaceOrError"]["locationEntries"]
    return any(e["name"] == LOCATION and e["locationOrLoadError"] and
               e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries)
