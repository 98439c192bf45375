"""A real server whose writes fail (the file size limit, RLIMIT_FSIZE, of its process): the
request whose events could not be made durable gets 503 with Retry-After, nothing of it is left
in the landing files, and the next requests are stored in a new file."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import orjson
import pytest

from analytics_pipeline.ingestion.run import pending_files
from analytics_pipeline_tests.factories import event
from analytics_pipeline_tests.intake.server import ServerProcess

pytestmark = pytest.mark.e2e

KEY = "disk-failure-key-1"
FILE_LIMIT = 20_000


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_failed_write_is_a_503_and_leaves_no_trace(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({"ANALYTICS_DATA_DIR": str(tmp_path / "data"), "ANALYTICS_LANDING_DIR": str(landing),
                "ANALYTICS_API_KEYS": f"{KEY}=*", "ANALYTICS_API_RATE_LIMIT": "1000000"})
    server = ServerProcess(env, tmp_path / "server.log", preexec_fn=_small_files).start()
    headers = {"X-API-Key": KEY}
    try:
        small = [event(event_id=f"small-{i}") for i in range(10)]
        big = [event(event_id=f"big-{i}", properties={"pad": "x" * 1000}) for i in range(30)]
        later = [event(event_id=f"later-{i}") for i in range(10)]
        first = server.post("/api/events/batch", orjson.dumps(small), headers)
        failed = server.post("/api/events/batch", orjson.dumps(big), headers)
        after = server.post("/api/events/batch", orjson.dumps(later), headers)
    finally:
        server.stop()
    assert first[0] == 202
    assert failed[0] == 503
    error = orjson.loads(failed[1])["error"]
    assert error["code"] == "intake_unavailable" and "File too large" in error["message"]
    assert after[0] == 202
    files = pending_files(landing)
    assert len(files) == 2  # the file of the failed write was cut back and finished; a new one after it
    stored = [orjson.loads(line)["event_id"] for f in files for line in f.read_bytes().splitlines()]
    assert sorted(stored) == sorted(e["event_id"] for e in small + later)
    assert list(landing.glob(".intake-*.part")) == []
