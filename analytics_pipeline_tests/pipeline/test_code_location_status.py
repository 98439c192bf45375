"""``analytics-pipeline status`` says when the code location cannot be reached or the daemon is
down, from a real code server (``dagster api grpc``) that answers and then is killed, and from
real sensor ticks and daemon heartbeats stored in the instance."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._daemon.types import DaemonHeartbeat

from analytics_pipeline.alerts.status import collect_status
from analytics_pipeline.cli import main
from analytics_pipeline.run_launcher import CodeServer
from analytics_pipeline_tests.alerts import tiny_location

BIN = Path(sys.executable).parent
MODULE = "analytics_pipeline_tests.alerts.tiny_location"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _started_run(instance: dg.DagsterInstance, port: int) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(
        job_name="nightly_job", status=dg.DagsterRunStatus.STARTED,
        tags={GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}))


def test_status_names_a_code_server_that_stopped_answering(instance, capsys):
    port = _free_port()
    server = subprocess.Popen([str(BIN / "dagster"), "api", "grpc", "--python-file", tiny_location.__file__,
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while CodeServer("127.0.0.1", port, None).unreachable_reason(timeout=1) is not None:
            assert time.monotonic() < deadline and server.poll() is None, "code server did not start"
            time.sleep(0.3)
        run = _started_run(instance, port)

        assert collect_status(instance, tiny_location.defs).problems == []

        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        [problem] = collect_status(instance, tiny_location.defs).problems
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)

    assert "is unreachable" in problem and f"127.0.0.1:{port} does not answer" in problem
    assert run.run_id[:8] in problem and "run monitoring marks them failed" in problem
    assert main(["status", "--module", MODULE]) == 1
    text = capsys.readouterr().out
    assert "NOT RUNNING:" in text and f"127.0.0.1:{port}" in text


@pytest.fixture
def ticked(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """One real skipped tick of tiny_location's quiet_sensor, recorded by the sensor daemon loop."""
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=tiny_location.__file__, attribute="defs")))
    with create_test_daemon_workspace_context(target, instance) as workspace:
        list(execute_sensor_iteration(workspace, logging.getLogger("sensor-test"), None, None))
    return instance


def test_status_says_when_sensors_stopped_ticking_and_why(ticked):
    now = datetime.now(timezone.utc)
    assert collect_status(ticked, tiny_location.defs, now=now).problems == []
    later = now + timedelta(minutes=20)

    [no_daemon] = collect_status(ticked, tiny_location.defs, now=later).problems
    assert "the daemon is not running" in no_daemon

    ticked.add_daemon_heartbeat(DaemonHeartbeat(timestamp=later.timestamp() - 10, daemon_type="SENSOR",
                                                daemon_id="test", errors=[]))
    [unreachable] = collect_status(ticked, tiny_location.defs, now=later).problems
    assert "although the daemon is running: the code location is unreachable" in unreachable
    assert f"since {now:%Y-%m-%d %H:%M}" in unreachable or f"since {(now - timedelta(minutes=1)):%Y-%m-%d %H:%M}" in unreachable
