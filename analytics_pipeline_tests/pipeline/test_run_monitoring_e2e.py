"""A run whose process dies is marked failed and the next tick launches, under a real daemon.

``dagster-daemon run`` against a temporary DAGSTER_HOME holding the repository's dagster.yaml
with the code server's launcher (``MonitoredRunLauncher``, deploy/dagster.yaml's; the warm one is
in ``test_warm_launcher_e2e.py``), the monitoring poll cut from 30 s to one second so the test stays short, and a workspace for the tiny location in ``orchestration_location.py``. Its sensor
launches ``hold_job`` whenever none is going; the test kills the run's process with SIGKILL,
then kills a second run together with its code server. Every process started here is stopped
at the end (the daemon runs in its own process group, which holds its code server and runs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest
import yaml

from analytics_pipeline.run_launcher import code_server_of, process_alive
from analytics_pipeline_tests.pipeline import orchestration_location

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 45) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def running_daemon(tmp_path: Path, launcher: str | None = None) -> Iterator[tuple[dg.DagsterInstance, Path]]:
    """``dagster-daemon run`` on the repository's dagster.yaml (``launcher``: another class of
    analytics_pipeline.run_launcher), the tiny location, and an instance to watch it with."""
    home, work = tmp_path / "dagster_home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 1
    if launcher is not None:
        config["run_launcher"]["class"] = launcher
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": orchestration_location.__file__, "working_directory": str(REPO),
        "location_name": "tiny"}}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({"DAGSTER_HOME": str(home), "ORCHESTRATION_TEST_DIR": str(work),
                "ANALYTICS_DATA_DIR": str(tmp_path / "data")})
    # The instance's SQLite storages are created here, before the daemon opens them: two
    # processes creating the same tables at once fail with "table ... already exists".
    instance = dg.DagsterInstance.from_config(str(home))
    instance.get_runs(limit=1)
    instance.all_instigator_state()
    instance.get_latest_materialization_events([])
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env,
                              cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield instance, work
    finally:
        instance.dispose()
        (work / "release").touch()
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(daemon.pid, sig)
            except ProcessLookupError:
                break
            try:
                daemon.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # runs and code servers left in the group after the daemon exited
            os.killpg(daemon.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
        print((tmp_path / "daemon.log").read_text()[-4000:])


@pytest.fixture
def daemon_home(tmp_path: Path) -> Iterator[tuple[dg.DagsterInstance, Path]]:
    """Runs started by the code server (the default launcher, as in deploy/dagster.yaml)."""
    with running_daemon(tmp_path, "MonitoredRunLauncher") as started:
        yield started


def _hold_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return sorted(instance.get_runs(dg.RunsFilter(job_name="hold_job")), key=lambda r: r.run_id)


def _running_with_pid(instance: dg.DagsterInstance, work: Path, exclude: set[str]) -> tuple[dg.DagsterRun, int] | None:
    for run in instance.get_runs(dg.RunsFilter(job_name="hold_job", statuses=[dg.DagsterRunStatus.STARTED])):
        pid_file = work / f"{run.run_id}.pid"
        if run.run_id not in exclude and pid_file.exists() and pid_file.read_text():
            return run, int(pid_file.read_text())
    return None


def _status(instance: dg.DagsterInstance, run_id: str, status: dg.DagsterRunStatus) -> dg.DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run.status == status else None


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_killed_run_is_marked_failed_and_the_next_tick_launches(daemon_home):
    instance, work = daemon_home
    first, first_pid = wait_for("the sensor's first run to start", lambda: _running_with_pid(instance, work, set()),
                                timeout=90)

    os.kill(first_pid, signal.SIGKILL)

    wait_for("the killed run to be marked failed",
             lambda: _status(instance, first.run_id, dg.DagsterRunStatus.FAILURE))
    second, second_pid = wait_for("the next tick to launch a new run",
                                  lambda: _running_with_pid(instance, work, {first.run_id}))
    assert [r.run_id for r in _hold_runs(instance)] == sorted([first.run_id, second.run_id])

    # Now the code server dies with its run: nobody is left to notice but run monitoring.
    server_pid = _parent_pid(second_pid)
    assert code_server_of(second) is not None
    os.kill(server_pid, signal.SIGKILL)
    os.kill(second_pid, signal.SIGKILL)
    wait_for("the run worker to be gone", lambda: not process_alive(second_pid), timeout=10)

    failed = wait_for("run monitoring to fail the run of the dead code server",
                      lambda: _status(instance, second.run_id, dg.DagsterRunStatus.FAILURE))
    messages = [r.event_log_entry.message or "" for r in instance.get_records_for_run(failed.run_id).records]
    assert any("does not answer" in m and f"run worker pid {second_pid} is gone" in m for m in messages), messages
