"""PostgreSQL loads two chunks at once (``run.PG_COMMIT_LANES``), each on its own connection,
and still commits them one after another in file and line order: the first copy of an event
wins whichever chunk claims its key first, batch ids commit in increasing order, and a chunk
that fails stops every chunk after it, even one whose rows were already loaded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion import run
from analytics_pipeline.ingestion.load import YieldTurn
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.conftest import _empty_postgres
from analytics_pipeline_tests.factories import event, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ingest, ledger, stored_events

CHUNK = 400


@pytest.fixture
def pg(pg_database: str) -> Warehouse:
    _empty_postgres(pg_database)
    return Warehouse(pg_database)


def _crossing_duplicates(chunks: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``chunks`` chunks of CHUNK lines where each chunk ends with ids that are re-sent at the
    start of the next chunk and of the one after it: a later chunk, loading at the same time,
    reaches its copy of a key before the earlier chunk does. Returns the lines and, per re-sent
    event id, the url_path of its first line (the copy that must be kept)."""
    lines: list[dict[str, Any]] = []
    first: dict[str, str] = {}
    for c in range(chunks):
        head = [event(event_id=f"x{c - 1}-{k}", url_path=f"/second/{c - 1}/{k}") for k in range(2) if c >= 1]
        head += [event(event_id=f"y{c - 2}-{k}", url_path=f"/third/{c - 2}/{k}") for k in range(2) if c >= 2]
        tail = [event(event_id=f"{x}{c}-{k}", url_path=f"/first/{c}/{x}{k}") for x in "xy" for k in range(2)]
        body = [event(event_id=f"c{c}-{i}", url_path=f"/c{c}/{i}") for i in range(CHUNK - len(head) - len(tail))]
        for k in range(2):
            first[f"x{c}-{k}"] = f"/first/{c}/x{k}"
            first[f"y{c}-{k}"] = f"/first/{c}/y{k}"
        lines += head + body + tail
    return lines, first


@pytest.mark.parametrize("lanes", [2, 3])
def test_duplicates_across_chunks_loading_at_once_keep_the_first_copy(
    pg: Warehouse, landing_dir: Path, monkeypatch: pytest.MonkeyPatch, lanes: int
) -> None:
    monkeypatch.setattr(run, "PG_COMMIT_LANES", lanes)  # 3: a chunk may hold what the one two before needs
    chunks = 12
    lines, first = _crossing_duplicates(chunks)
    write_jsonl(landing_dir / "day.jsonl", lines)

    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(ingest(pg, landing_dir, chunk_lines=CHUNK)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "ingestion hung: chunks waiting for each other"
    (result,) = outcome

    unique = len({line["event_id"] for line in lines})
    assert (result.lines, result.loaded, result.duplicates, result.rejected) == (len(lines), unique, len(lines) - unique, 0)
    stored = stored_events(pg)
    assert len(stored) == unique == count(pg, "event_keys")
    for event_id, url_path in first.items():
        assert stored[event_id]["url_path"] == url_path, event_id
    (row,) = ledger(pg)
    assert (row["status"], row["lines"], row["loaded"], row["duplicates"]) == ("done", len(lines), unique, len(lines) - unique)
    # One batch per chunk, its ids in line order (commit order is id order).
    with pg.connect() as conn:
        batches = conn.execute(sa.text("SELECT batch_id, first_line FROM ingest_batches ORDER BY batch_id")).all()
    assert [b.first_line for b in batches] == sorted(b.first_line for b in batches)
    assert len(batches) == chunks + (1 if len(lines) % CHUNK else 0)


def test_a_chunk_failing_after_loading_its_rows_stops_the_chunk_loading_beside_it(
    pg: Warehouse, landing_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(landing_dir / "day.jsonl", [event(event_id=f"e{i}", url_path=f"/{i}") for i in range(10 * CHUNK)])
    real = run.load_chunk
    calls = {"n": 0}
    lock = threading.Lock()

    def third_fails_late(*args: Any, **kwargs: Any) -> Any:
        with lock:
            calls["n"] += 1
            number = calls["n"]
        outcome = real(*args, **kwargs)  # its rows and ledger row written, not committed
        if number == 3:
            time.sleep(0.5)  # the fourth chunk loads its rows meanwhile and waits to commit
            raise OSError("disk full while committing chunk 3")
        return outcome

    monkeypatch.setattr(run, "load_chunk", third_fails_late)
    with pytest.raises(OSError, match="disk full"):
        ingest(pg, landing_dir, chunk_lines=CHUNK)
    monkeypatch.undo()
    (row,) = ledger(pg)
    assert (row["status"], row["lines_committed"], row["loaded"]) == ("loading", 2 * CHUNK, 2 * CHUNK)
    assert count(pg, "events") == count(pg, "event_keys") == 2 * CHUNK
    assert calls["n"] >= 3

    result = ingest(pg, landing_dir, chunk_lines=CHUNK)
    assert (result.files[0].status, result.loaded, result.duplicates) == ("resumed", 8 * CHUNK, 0)
    assert count(pg, "events") == count(pg, "event_keys") == 10 * CHUNK


def test_a_chunk_holding_a_key_its_predecessor_waits_for_steps_back(pg: Warehouse) -> None:
    """The wait for the chunk before never deadlocks unseen: when that chunk's server process
    waits for a lock, the waiting chunk rolls back its rows (``YieldTurn``)."""
    url = pg.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as holder, psycopg.connect(url) as waiter:
        holder.execute("INSERT INTO event_keys (event_id, occurred_at) VALUES ('k', now())")  # uncommitted
        blocked = threading.Thread(
            target=lambda: waiter.execute("INSERT INTO event_keys (event_id, occurred_at) VALUES ('k', now()) "
                                          "ON CONFLICT DO NOTHING"))
        blocked.start()
        before = run._Turn(None)
        before.ordered(waiter.info.backend_pid)
        turn = run._Turn(before)
        turn.ordered(holder.info.backend_pid)
        started = time.monotonic()
        with holder.cursor() as cursor, pytest.raises(YieldTurn):
            turn.wait(cursor)
        assert time.monotonic() - started < 10
        holder.rollback()  # the step back: the predecessor goes on and ends
        blocked.join(timeout=10)
        assert not blocked.is_alive()
        waiter.commit()
        before.end(failed=False)
        turn.wait()  # now simply returns
        assert waiter.execute("SELECT count(*) FROM event_keys WHERE event_id = 'k'").fetchone() == (1,)


def test_a_predecessor_that_failed_makes_the_waiting_chunk_skip() -> None:
    before = run._Turn(None)
    turn = run._Turn(before)
    before.end(failed=True)
    with pytest.raises(run._CommitSkipped):
        turn.wait()


_runs = iter(range(10**9))


@settings(max_examples=30, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ids=st.lists(st.integers(0, 15), min_size=1, max_size=60), chunk_lines=st.integers(1, 7),
       bad=st.sets(st.integers(0, 59), max_size=4))
def test_any_order_of_repeated_ids_keeps_each_first_copy_once(
    pg_database: str, tmp_path: Path, ids: list[int], chunk_lines: int, bad: set[int]
) -> None:
    """Property: however the repeats of an id fall across chunks loading at once, each id is
    stored once, as its first valid line, and every line is counted once; lines PostgreSQL
    refuses or rules out (a NUL character, year 1) are rejected wherever they fall, and control
    characters and formula-like text are stored as given."""
    n = next(_runs)
    _empty_postgres(pg_database)
    warehouse = Warehouse(pg_database)
    landing = tmp_path / f"landing-{n}"
    landing.mkdir()
    lines, first, refused = [], {}, 0
    for line_number, i in enumerate(ids):
        if line_number in bad:
            # A NUL (neither column type can store it) or year 1: rejected wherever it falls.
            hostile = ({"url_path": f"/{line_number}\x00"} if line_number % 2
                       else {"url_path": f"/{line_number}", "occurred_at": "0001-01-01T00:00:00Z"})
            lines.append(event(event_id=f"id-{i}", **hostile))
            refused += 1
            continue
        # Control characters and a formula-like value are stored as given.
        url_path = f"/{line_number}" + ('\x07\x1b=HYPERLINK("x")' if line_number % 3 == 0 else "")
        lines.append(event(event_id=f"id-{i}", url_path=url_path))
        first.setdefault(f"id-{i}", url_path)
    write_jsonl(landing / "day.jsonl", lines)

    result = ingest(warehouse, landing, chunk_lines=chunk_lines)

    assert (result.loaded, result.rejected, result.duplicates) == (len(first), refused, len(ids) - refused - len(first))
    stored = stored_events(warehouse)
    assert {k: v["url_path"] for k, v in stored.items()} == first
    assert count(warehouse, "event_keys") == len(first)
    (row,) = ledger(warehouse)
    assert (row["status"], row["lines"], row["loaded"]) == ("done", len(ids), len(first))


def test_many_small_files_finish_while_the_next_ones_load(
    pg: Warehouse, landing_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file's finishing and the next files' ledger rows run beside the chunks loading;
    batch ids still follow file and line order (even when a file's last chunk is slow to take
    its own), new day partitions are created one at a time, and every file ends done and
    moved."""
    real = run.load_chunk

    def last_chunk_slow(warehouse: Warehouse, conn: Any, chunk: Any, *args: Any, **kwargs: Any) -> Any:
        if chunk.first_line == 5:
            time.sleep(0.1)  # before its batch id: the next file's first chunk must not take one first
        return real(warehouse, conn, chunk, *args, **kwargs)

    monkeypatch.setattr(run, "load_chunk", last_chunk_slow)
    expected_loaded = 0
    for f in range(10):
        day = ("2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01")[f % 4]  # some files share a day
        lines: list[Any] = [event(event_id=f"f{f}-{i}", occurred_at=f"{day}T10:0{i}:00Z") for i in range(5)]
        lines.insert(2, "{bad")
        expected_loaded += 5
        path = landing_dir / f"f{f:02d}.jsonl"
        write_jsonl(path, lines)
        os.utime(path, (1_700_000_000 + f, 1_700_000_000 + f))  # listed in this order

    result = ingest(pg, landing_dir, chunk_lines=2)

    assert [f.name for f in result.files] == [f"f{f:02d}.jsonl" for f in range(10)]
    assert (result.loaded, result.rejected, result.duplicates) == (expected_loaded, 10, 0)
    assert [row["status"] for row in ledger(pg)] == ["done"] * 10
    assert sorted(p.name for p in (landing_dir / "processed").iterdir()) == [f"f{f:02d}.jsonl" for f in range(10)]
    with pg.connect() as conn:
        batches = conn.execute(sa.text(
            "SELECT b.batch_id, f.path, b.first_line FROM ingest_batches b JOIN ingest_files f USING (file_id) "
            "ORDER BY b.batch_id")).all()
    assert [(b.path, b.first_line) for b in batches] == sorted((b.path, b.first_line) for b in batches)
