"""Ingestion beside other processes: two ingesters on one SQLite warehouse (real processes),
a PostgreSQL connection lost mid-file, and SQLite readers that never wait on a writer."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from analytics_pipeline.cache.backends import EmbeddedCache
from analytics_pipeline.ingestion.run import IngestionLockLost
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.conftest import PG_ADMIN_DSN
from analytics_pipeline_tests.factories import event, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ingest, ledger

CLI = [str(Path(sys.executable).parent / "analytics-pipeline")]


def _cli_env(url: str, landing: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(ANALYTICS_DATABASE_URL=url, ANALYTICS_LANDING_DIR=str(landing),
               ANALYTICS_DATA_DIR=str(landing.parent / "data"), PYTHONUNBUFFERED="1")
    return env


def test_two_ingest_processes_on_one_sqlite_file_store_everything_once(tmp_path: Path, landing_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    items: list = []
    for i in range(3000):
        items.append(event(event_id=f"e{i}", occurred_at="2024-03-01T10:00:00Z"))
        if i % 10 == 0:
            items.append("{not json")
    write_jsonl(landing_dir / "big.jsonl", items)

    # Hold the ingestion lock while both start, so they really meet; then let them race.
    with open(tmp_path / "warehouse.db-ingest.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [subprocess.Popen(CLI + ["ingest"], env=_cli_env(url, landing_dir), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        # Each one's first line says it waits for the lock.
        first_lines = [p.stdout.readline() for p in procs]  # type: ignore[union-attr]
        fcntl.flock(lock, fcntl.LOCK_UN)
    outputs = [first + p.communicate(timeout=120)[0] for first, p in zip(first_lines, procs)]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all(o.startswith("another ingester is running on this warehouse; waiting") for o in outputs), outputs
    assert sorted(o.splitlines()[-1].split(",")[0] for o in outputs) == ["0 files", "1 files"], outputs
    assert not any("resuming after line" in o for o in outputs)
    assert count(warehouse, "events") == 3000
    assert count(warehouse, "rejected_events") == 300
    (row,) = ledger(warehouse)
    assert (row["lines"], row["loaded"], row["rejected"], row["duplicates"]) == (3300, 3000, 300, 0)


def _terminate_other_backends(url: str) -> None:
    database = sa.engine.make_url(url).database
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))


def test_a_lost_postgresql_connection_fails_with_the_real_cause_and_the_rerun_resumes(
    pg_database: str, landing_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics_pipeline.ingestion import run
    from analytics_pipeline_tests.conftest import _empty_postgres

    _empty_postgres(pg_database)
    warehouse = Warehouse(pg_database)
    write_jsonl(landing_dir / "day.jsonl", [event(event_id=f"e{i}") for i in range(10)] + ["{bad"])
    real = run._commit_chunk
    commits = []

    def commit_then_lose_the_connections(*args, **kwargs):
        # Right after the first chunk commits (on the commit thread, before the next chunk's
        # lock check), the server cuts every connection of the run.
        real(*args, **kwargs)
        commits.append(1)
        if len(commits) == 1:
            _terminate_other_backends(pg_database)

    monkeypatch.setattr(run, "_commit_chunk", commit_then_lose_the_connections)
    # The lock check before the next chunk finds the lock's connection gone; or the chunk that
    # was already loading beside the first one (PostgreSQL loads two at once) fails first, on
    # its own cut connection. Either way the run stops with the server's reason.
    with pytest.raises((IngestionLockLost, sa.exc.OperationalError)) as failure:
        ingest(warehouse, landing_dir, chunk_lines=4)
    monkeypatch.undo()
    message = str(failure.value)
    assert "terminating connection due to administrator command" in message or "closed" in message, message
    assert "advisory_unlock" not in message
    assert count(warehouse, "events") == 4  # the first chunk is committed, nothing more

    result = ingest(warehouse, landing_dir, chunk_lines=4)
    (file_result,) = result.files
    assert file_result.status == "resumed"
    assert count(warehouse, "events") == 10
    assert count(warehouse, "rejected_events") == 1
    (row,) = ledger(warehouse)
    assert (row["status"], row["lines"], row["loaded"], row["rejected"]) == ("done", 11, 10, 1)


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    cache = EmbeddedCache(warehouse)
    cache.set_many({"analytics:k": "v"}, 60)
    answers: list = []

    def read() -> None:
        answers.append(warehouse.query("select_max_batch_id")[0]["batch_id"])
        answers.append(cache.get("analytics:k"))
        answers.append(cache.keys("analytics:*"))

    with warehouse.begin() as writer:  # ingestion's write transaction, held open
        writer.execute(sa.text("INSERT INTO pipeline_state (key, value, updated_at) VALUES ('x', 'y', 'z')"))
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), "a read queued behind the open write transaction"
    assert answers == [0, "v", ["analytics:k"]]
