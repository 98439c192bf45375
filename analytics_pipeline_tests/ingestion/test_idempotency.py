"""Exactly once: files twice, events twice, crashes mid-file, and the worker-process path."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from analytics_pipeline.ingestion import run
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event, jsonl_bytes, write_csv, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, failing_on_call, ingest, ledger, rejections, stored_events


def test_same_file_twice_loads_nothing_new(warehouse: Warehouse, landing_dir: Path) -> None:
    lines = [event(), event(), "{bad", custom_event()]
    write_jsonl(landing_dir / "a.jsonl", lines)
    first = ingest(warehouse, landing_dir)
    assert (first.loaded, first.rejected) == (3, 1)

    write_jsonl(landing_dir / "a.jsonl", lines)  # dropped again, same name
    write_jsonl(landing_dir / "a-copy.jsonl", lines)  # and under another name
    second = ingest(warehouse, landing_dir)

    assert [f.status for f in second.files] == ["already ingested", "already ingested"]
    assert (second.lines, second.loaded, second.duplicates, second.rejected) == (0, 0, 0, 0)
    assert count(warehouse, "events") == 3
    assert count(warehouse, "rejected_events") == 1
    assert len(ledger(warehouse)) == 1
    assert list(landing_dir.glob("*.jsonl")) == []
    processed = sorted(p.name for p in (landing_dir / "processed").iterdir())
    assert len(processed) == 3 and "a.jsonl" in processed and "a-copy.jsonl" in processed
    for f in second.files:
        assert Path(f.moved_to).parent == landing_dir / "processed" and Path(f.moved_to).exists()


def test_same_event_in_two_files_first_wins(warehouse: Warehouse, landing_dir: Path) -> None:
    write_jsonl(landing_dir / "one.jsonl", [event(event_id="shared", url_path="/first"), event(event_id="only-1")])
    ingest(warehouse, landing_dir)
    write_jsonl(landing_dir / "two.jsonl", [event(event_id="shared", url_path="/second"), event(event_id="only-2")])
    write_csv(landing_dir / "three.csv", [event(event_id="shared", url_path="/third"), event(event_id="only-2")])
    result = ingest(warehouse, landing_dir)

    counts = {f.name: (f.lines, f.loaded, f.duplicates, f.rejected) for f in result.files}
    assert counts == {"two.jsonl": (2, 1, 1, 0), "three.csv": (2, 0, 2, 0)}
    events = stored_events(warehouse)
    assert sorted(events) == ["only-1", "only-2", "shared"]
    assert (events["shared"]["url_path"], events["shared"]["source_file"]) == ("/first", "one.jsonl")
    assert events["only-2"]["source_file"] == "two.jsonl"


@pytest.mark.parametrize("chunk_lines", [1000, 2], ids=["same-chunk", "across-chunks"])
def test_same_event_twice_in_one_file_first_line_wins(
    warehouse: Warehouse, landing_dir: Path, chunk_lines: int
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [
        event(event_id="x", url_path="/first"), event(event_id="y"), event(event_id="x", url_path="/second"),
        event(event_id="z"), event(event_id="x", url_path="/third"),
    ])
    result = ingest(warehouse, landing_dir, chunk_lines=chunk_lines)
    assert (result.lines, result.loaded, result.duplicates, result.rejected) == (5, 3, 2, 0)
    assert stored_events(warehouse)["x"]["url_path"] == "/first"


# -- crash mid-file -------------------------------------------------------------------------------

def _mixed_lines(n: int) -> list[Any]:
    """``n`` lines: mostly valid, every 7th rejected, every 11th a repeat of an earlier event."""
    lines: list[Any] = []
    for i in range(1, n + 1):
        if i % 7 == 0:
            lines.append(f'{{"event_id": "bad-{i}"')
        elif i % 11 == 0:
            j = i - 5
            while j % 7 == 0 or j % 11 == 0:
                j -= 1
            lines.append(event(event_id=f"e-{j:04d}", url_path="/repeat"))
        else:
            lines.append(event(event_id=f"e-{i:04d}", url_path=f"/p/{i}"))
    return lines


def _expected(lines: list[Any]) -> tuple[int, int, int]:
    loaded = sum(1 for x in lines if isinstance(x, dict) and x["url_path"] != "/repeat")
    duplicates = sum(1 for x in lines if isinstance(x, dict) and x["url_path"] == "/repeat")
    return loaded, duplicates, len(lines) - loaded - duplicates


class SimulatedCrash(Exception):
    pass


@pytest.mark.parametrize("when", ["inside-the-chunk-transaction", "after-the-chunk-committed"])
def test_crash_mid_file_then_rerun_loads_every_line_exactly_once(
    warehouse: Warehouse, landing_dir: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    lines = _mixed_lines(95)
    write_jsonl(landing_dir / "big.jsonl", lines)
    if when == "inside-the-chunk-transaction":
        monkeypatch.setattr(run, "load_chunk",
                            failing_on_call(run.load_chunk, 3, SimulatedCrash("power cut while loading chunk 3")))
        committed_lines = 20
    else:
        real = run._commit_chunk
        calls = {"n": 0}

        def crashing(*args: Any, **kwargs: Any) -> Any:
            # The number of this call, taken at its start: on PostgreSQL the next chunk's call
            # starts while this one still loads.
            calls["n"] += 1
            number = calls["n"]
            real(*args, **kwargs)
            if number == 3:
                raise SimulatedCrash("power cut right after chunk 3 committed")

        monkeypatch.setattr(run, "_commit_chunk", crashing)
        committed_lines = 30

    with pytest.raises(SimulatedCrash):
        ingest(warehouse, landing_dir, chunk_lines=10)

    (entry,) = ledger(warehouse)
    assert (entry["status"], entry["lines_committed"], entry["lines"]) == ("loading", committed_lines, committed_lines)
    assert entry["loaded"] + entry["duplicates"] + entry["rejected"] == committed_lines
    assert count(warehouse, "events") == entry["loaded"]
    assert (landing_dir / "big.jsonl").exists(), "a half-ingested file stays in the landing directory"

    monkeypatch.undo()
    result = ingest(warehouse, landing_dir, chunk_lines=10)

    (file_result,) = result.files
    assert file_result.status == "resumed"
    assert file_result.lines == 95 - committed_lines
    (entry,) = ledger(warehouse)
    loaded, duplicates, rejected = _expected(lines)
    assert (entry["status"], entry["lines_committed"], entry["lines"]) == ("done", 95, 95)
    assert (entry["loaded"], entry["duplicates"], entry["rejected"]) == (loaded, duplicates, rejected)
    events = stored_events(warehouse)
    assert len(events) == loaded == count(warehouse, "events")
    assert all(e["url_path"] != "/repeat" for e in events.values())
    lines_rejected = [r["line_number"] for r in rejections(warehouse)]
    assert lines_rejected == [i for i in range(1, 96) if i % 7 == 0]
    assert (landing_dir / "processed" / "big.jsonl").exists()
    with warehouse.connect() as conn:
        covered = conn.execute(sa.text("SELECT first_line, last_line FROM ingest_batches ORDER BY batch_id")).all()
    assert [tuple(r) for r in covered] == [(i, min(i + 9, 95)) for i in range(1, 96, 10)]


def test_crash_after_last_chunk_before_the_file_is_moved(
    warehouse: Warehouse, landing_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event(), event(), "{bad"])

    def crashing_move(*_args: Any) -> Path:
        raise SimulatedCrash("disk full while moving")

    monkeypatch.setattr(run, "_move_processed", crashing_move)
    with pytest.raises(SimulatedCrash):
        ingest(warehouse, landing_dir)
    monkeypatch.undo()

    result = ingest(warehouse, landing_dir)
    assert [f.status for f in result.files] == ["already ingested"]
    assert (count(warehouse, "events"), count(warehouse, "rejected_events")) == (2, 1)
    assert (landing_dir / "processed" / "a.jsonl").exists()


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz"])
def test_worker_processes_give_the_same_result_as_inline(warehouse: Warehouse, tmp_path: Path, name: str) -> None:
    lines = _mixed_lines(700)
    data = jsonl_bytes(lines)
    if name.endswith(".gz"):
        data = gzip.compress(data)

    def snapshot(workers: int) -> tuple[Any, ...]:
        landing = tmp_path / f"landing-{workers}"
        landing.mkdir()
        (landing / name).write_bytes(data)
        result = ingest(warehouse, landing, chunk_lines=64, workers=workers)
        events = {k: {c: v for c, v in e.items() if c not in ("ingested_at", "batch_id")}
                  for k, e in stored_events(warehouse).items()}
        rejected = [(r["line_number"], r["raw"], r["reason"]) for r in rejections(warehouse)]
        counts = [(f.status, f.lines, f.loaded, f.duplicates, f.rejected) for f in result.files]
        with warehouse.begin() as conn:  # empty the warehouse for the other run
            for table in ("events", "rejected_events", "ingest_files", "ingest_batches"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            if warehouse.is_postgres:
                conn.execute(sa.text("DELETE FROM event_keys"))
        return counts, events, rejected

    inline = snapshot(0)
    pooled = snapshot(1)
    assert inline[0] == [("ingested", 700, *_expected(lines))]
    assert pooled == inline


def test_an_event_for_a_day_retention_dropped_is_rejected_with_its_reason(warehouse, landing_dir):
    """Loading it would re-open a day whose statistics are final (and could not be rebuilt)."""
    from datetime import date, datetime, timezone

    from analytics_pipeline.ingestion.run import ingest_landing
    from analytics_pipeline_tests.factories import event, write_jsonl

    with warehouse.begin() as conn:
        conn.execute(warehouse.sql("insert_retention_dropped_day"),
                     {"day": warehouse.day(date(2024, 1, 5)), "events": 10,
                      "dropped_at": warehouse.ts(datetime(2024, 4, 7, tzinfo=timezone.utc)), "run_id": "r"})
    write_jsonl(landing_dir / "late.jsonl", [event(event_id="old", occurred_at="2024-01-05T12:00:00Z"),
                                             event(event_id="ok", occurred_at="2024-01-06T12:00:00Z")])
    result = ingest_landing(warehouse, landing_dir, now=lambda: datetime(2024, 4, 8, tzinfo=timezone.utc))
    assert (result.loaded, result.rejected) == (1, 1)
    with warehouse.connect() as conn:
        reason = conn.exec_driver_sql("SELECT reason FROM rejected_events").scalar_one()
    assert "2024-01-05" in reason and "retention" in reason
