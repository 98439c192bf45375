"""The warm run launcher (dagster.yaml's) under a real daemon: a sensor's run executes in a worker
forked from the fork server, not in a new Python started by the code server; a killed worker's
run is marked failed by run monitoring; terminating a run cancels it.

Same harness as ``test_run_monitoring_e2e.py``: ``dagster-daemon run`` on a temporary
DAGSTER_HOME holding the repository's dagster.yaml (monitoring poll cut to one second) and the
tiny location's ``hold_job``, which writes its process id and waits to be released.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from analytics_pipeline.run_launcher import WARM_TAG, WarmRunLauncher, process_alive, warm_worker
from analytics_pipeline_tests.pipeline.test_run_monitoring_e2e import (
    REPO,
    _running_with_pid,
    _status,
    running_daemon,
    wait_for,
)

pytestmark = pytest.mark.e2e


def test_the_repository_instance_uses_the_warm_launcher() -> None:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["run_launcher"] == {"module": "analytics_pipeline.run_launcher", "class": "WarmRunLauncher"}


def test_a_warm_worker_starts_with_dagster_storage_imported_but_not_the_code_location() -> None:
    # In a fresh Python: a fork server is one per process and keeps the preload of whoever started
    # it first (ingestion starts one for its parsers).
    probe = (
        "from analytics_pipeline.run_launcher import _warm_context\n"
        "with _warm_context().Pool(1) as pool:\n"
        "    print(pool.apply(eval, ('sorted(__import__(\"sys\").modules)',)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    modules = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    # What every run worker would otherwise import again (about 0.6 s on this machine kind) ...
    assert {"dagster._cli.api", "dagster._core.storage.base_storage", "dagster._core.instance.factory",
            "alembic", "sqlalchemy", "jinja2"} <= modules
    # ... but the code location is each worker's own import, so a reloaded location's code runs.
    assert not {name for name in modules if name.startswith("analytics_pipeline")}


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def warm_daemon(tmp_path: Path):
    with running_daemon(tmp_path) as started:  # the repository's dagster.yaml as it is
        yield started


def test_runs_start_warm_die_visibly_and_cancel(warm_daemon):
    instance, work = warm_daemon
    assert isinstance(instance.run_launcher, WarmRunLauncher)

    first, pid = wait_for("the sensor's first run to start", lambda: _running_with_pid(instance, work, set()),
                          timeout=90)
    host, tagged_pid = warm_worker(instance.get_run_by_id(first.run_id))
    assert tagged_pid == pid  # the in-process executor: the step runs in the worker itself
    assert WARM_TAG in instance.get_run_by_id(first.run_id).tags
    # Forked from the fork server, which the daemon started: not a child of a code server.
    assert "forkserver" in _cmdline(_parent(pid))
    assert instance.run_launcher.check_run_worker_health(instance.get_run_by_id(first.run_id)).status.value == "RUNNING"

    os.kill(pid, signal.SIGKILL)
    wait_for("the killed run to be marked failed", lambda: _status(instance, first.run_id, dg.DagsterRunStatus.FAILURE))
    messages = [r.event_log_entry.message or "" for r in instance.get_records_for_run(first.run_id).records]
    assert any(f"run worker pid {pid} is gone" in m for m in messages), messages

    second, second_pid = wait_for("the next tick to launch a new run",
                                  lambda: _running_with_pid(instance, work, {first.run_id}))
    assert instance.run_launcher.terminate(second.run_id)
    wait_for("the terminated run to be cancelled",
             lambda: _status(instance, second.run_id, dg.DagsterRunStatus.CANCELED))
    wait_for("its worker to exit", lambda: not process_alive(second_pid), timeout=20)


def _daemon_pid(tmp_path: Path) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "dagster-daemon run" in cmd and str(tmp_path) in cmd:
                return int(entry.name)
    raise AssertionError("no dagster-daemon process for this test")


def test_a_run_outlives_its_daemon_and_records_its_own_end(warm_daemon, tmp_path: Path):
    """Stopping the daemon neither waits for the runs its launcher started nor stops them."""
    instance, work = warm_daemon
    run, pid = wait_for("the sensor's first run to start", lambda: _running_with_pid(instance, work, set()),
                        timeout=90)
    daemon = _daemon_pid(tmp_path)
    os.kill(daemon, signal.SIGTERM)
    wait_for("the daemon to exit", lambda: not process_alive(daemon), timeout=30)
    assert process_alive(pid)
    (work / "release").touch()
    wait_for("the run to record its own success", lambda: _status(instance, run.run_id, dg.DagsterRunStatus.SUCCESS))
