"""The pipelined ingestion: files prepared ahead in parser processes, chunks committed on a
commit thread. Whatever runs where, the warehouse ends exactly as with everything inline."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from analytics_pipeline.ingestion import run
from analytics_pipeline.ingestion.run import ParserProcessFailed, _FileSource
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import NOW, custom_event, event, jsonl_bytes
from analytics_pipeline_tests.ingestion.helpers import count, failing_on_call, ingest, ledger, rejections, stored_events


def _csv_bytes(events: list[dict[str, Any]]) -> bytes:
    import csv
    import io

    import orjson

    columns = ["event_id", "website_id", "session_id", "visitor_id", "event_type", "event_name",
               "url_path", "referrer", "occurred_at", "properties"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for e in events:
        writer.writerow(["" if e.get(c) is None else (orjson.dumps(e[c]).decode() if c == "properties" else e[c])
                         for c in columns])
    return out.getvalue().encode()


def _landing_files(landing: Path) -> dict[str, int]:
    """Five files in every format; returns each one's line count. The last repeats the first's
    content under another name (same hash: loaded once, in this very run)."""
    files: dict[str, bytes] = {}
    first = [event(event_id=f"a-{i}", url_path=f"/a/{i}") for i in range(150)] + ['{"broken"']
    files["1-a.jsonl"] = jsonl_bytes(first)
    files["2-b.jsonl.gz"] = gzip.compress(jsonl_bytes(
        [custom_event(event_id=f"b-{i}") for i in range(120)] + [event(event_id="a-3", url_path="/again")]))
    files["3-c.csv"] = _csv_bytes([event(event_id=f"c-{i}") for i in range(90)]
                                  + [event(event_id="c-bad", occurred_at="2024-03-01T00:00:00")])
    files["4-d.csv.gz"] = gzip.compress(_csv_bytes([event(event_id=f"d-{i}") for i in range(80)]))
    files["5-copy-of-a.jsonl"] = files["1-a.jsonl"]
    lines = {}
    for offset, (name, data) in enumerate(files.items()):
        path = landing / name
        path.write_bytes(data)
        os.utime(path, (1_700_000_000 + offset, 1_700_000_000 + offset))  # this order
        lines[name] = len((gzip.decompress(data) if name.endswith(".gz") else data).splitlines())
    return lines


def _snapshot(warehouse: Warehouse, tmp_path: Path, workers: int, chunk_lines: int) -> tuple[Any, ...]:
    landing = tmp_path / f"landing-{workers}-{chunk_lines}"
    landing.mkdir()
    _landing_files(landing)
    result = ingest(warehouse, landing, workers=workers, chunk_lines=chunk_lines)
    events = {k: {c: v for c, v in e.items() if c not in ("ingested_at", "batch_id")}
              for k, e in stored_events(warehouse).items()}
    rejected = [(r["source_file"], r["line_number"], r["reason"]) for r in rejections(warehouse)]
    files = [(f.name, f.status, f.lines, f.loaded, f.duplicates, f.rejected) for f in result.files]
    files_ledger = sorted((r["path"], r["status"], r["lines_committed"]) for r in ledger(warehouse))
    assert list(landing.glob("*.*")) == []  # every file moved to processed/
    with warehouse.begin() as conn:  # empty the warehouse for the next run
        for table in ("events", "rejected_events", "ingest_files", "ingest_batches"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        if warehouse.is_postgres:
            conn.execute(sa.text("DELETE FROM event_keys"))
    return files, events, rejected, files_ledger, dict(result.stage_cpu)


def test_parser_processes_and_chunk_sizes_give_what_inline_gives(warehouse: Warehouse, tmp_path: Path) -> None:
    inline = _snapshot(warehouse, tmp_path, workers=0, chunk_lines=1000)
    files, events, rejected, files_ledger, stage_cpu = inline
    assert files == [
        ("1-a.jsonl", "ingested", 151, 150, 0, 1),
        ("2-b.jsonl.gz", "ingested", 121, 120, 1, 0),
        ("3-c.csv", "ingested", 91, 90, 0, 1),
        ("4-d.csv.gz", "ingested", 80, 80, 0, 0),
        ("5-copy-of-a.jsonl", "already ingested", 0, 0, 0, 0),
    ]
    assert len(events) == 150 + 120 + 90 + 80
    assert events["a-3"]["url_path"] == "/a/3"  # the first file's, not the re-sent one
    assert [r[:2] for r in rejected] == [("1-a.jsonl", 151), ("3-c.csv", 92)]
    assert [status for _, status, _ in files_ledger] == ["done"] * 4
    assert set(stage_cpu) == {"hashing", "reading", "parsing and validation", "loading"}
    for workers, chunk_lines in [(1, 7), (2, 50), (2, 1000), (0, 3)]:
        got = _snapshot(warehouse, tmp_path, workers, chunk_lines)
        assert got[:4] == inline[:4], (workers, chunk_lines)


def test_a_failed_commit_stops_everything_after_it(warehouse: Warehouse, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are prepared ahead, but nothing commits after the chunk that failed, and the next
    run loads the rest exactly once."""
    landing = tmp_path / "landing"
    landing.mkdir()
    _landing_files(landing)
    monkeypatch.setattr(run, "_commit_chunk", failing_on_call(run._commit_chunk, 4, OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        ingest(warehouse, landing, workers=2, chunk_lines=50)
    committed = count(warehouse, "ingest_batches")
    assert committed == 3
    monkeypatch.undo()
    result = ingest(warehouse, landing, workers=2, chunk_lines=50)
    assert count(warehouse, "events") == 150 + 120 + 90 + 80
    assert count(warehouse, "rejected_events") == 2
    assert [f.status for f in result.files] == ["resumed", "ingested", "ingested", "ingested", "already ingested"]


def test_a_parser_process_that_dies_fails_the_run_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl_bytes([event(event_id=f"e-{i}") for i in range(20_000)]))
    source = _FileSource(path, (0, 10, NOW, "sqlite", frozenset(), None), process=True)
    try:
        events = iter(source)
        assert next(events)[0] == "chunk"  # it runs, and waits: the queue holds two chunks
        deadline = time.monotonic() + 30
        while source._queue.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        source._process.kill()
        source._process.join()
        with pytest.raises(ParserProcessFailed, match="ended without finishing the file"):
            for _ in events:
                pass
    finally:
        source.close()


def _ingest_in_a_daemonic_process(url: str, landing: str, out) -> None:
    from analytics_pipeline.ingestion.run import ingest_landing

    result = ingest_landing(Warehouse(url), Path(landing), now=lambda: NOW, workers=2)
    out.put((result.loaded, [f.status for f in result.files]))


def test_ingestion_inside_a_daemonic_process_runs_inline(warehouse: Warehouse, tmp_path: Path) -> None:
    """Celery's prefork workers are daemonic, and a daemonic process may not start processes:
    ingestion there prepares inline instead of failing."""
    import multiprocessing

    landing = tmp_path / "landing"
    landing.mkdir()
    _landing_files(landing)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_ingest_in_a_daemonic_process, args=(warehouse.url, str(landing), out),
                              daemon=True)
    process.start()
    loaded, statuses = out.get(timeout=120)
    process.join(30)
    assert loaded == 150 + 120 + 90 + 80
    assert statuses == ["ingested"] * 4 + ["already ingested"]


def test_an_error_while_opening_a_file_lets_the_writes_before_it_finish(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third file cannot be read: the two before it finish committing before the run stops
    (and before the ingestion lock is let go); the rerun loads the rest exactly once."""
    landing = tmp_path / "landing"
    landing.mkdir()
    _landing_files(landing)
    real = run.sha256_of

    def unreadable(path: Path) -> str:
        if path.name == "3-c.csv":
            raise PermissionError(f"[Errno 13] Permission denied: {path.name!r}")
        return real(path)

    monkeypatch.setattr(run, "sha256_of", unreadable)
    with pytest.raises(PermissionError):
        ingest(warehouse, landing, workers=0, chunk_lines=40)
    assert sorted((r["path"], r["status"]) for r in ledger(warehouse)) == [("1-a.jsonl", "done"), ("2-b.jsonl.gz", "done")]
    assert count(warehouse, "events") == 150 + 120
    monkeypatch.undo()
    result = ingest(warehouse, landing, workers=0, chunk_lines=40)
    assert [(f.name, f.status) for f in result.files] == [("3-c.csv", "ingested"), ("4-d.csv.gz", "ingested"), ("5-copy-of-a.jsonl", "already ingested")]
    assert count(warehouse, "events") == 150 + 120 + 90 + 80


@pytest.mark.parametrize("name", ["head.jsonl", "head.jsonl.gz", "head.csv", "head.csv.gz"])
@pytest.mark.parametrize("lines", [3, 7, 40])
def test_the_head_start_prepares_the_first_chunk_inline_and_a_process_the_rest(tmp_path: Path, name: str,
                                                                               lines: int) -> None:
    """The run's first file: its first chunk is prepared in this process, a parser process
    started after it goes on from the next line; together they are the inline stream, every
    record once, the header once."""
    events = [event(event_id=f"e-{i}") for i in range(lines)]
    data = _csv_bytes(events) if ".csv" in name else jsonl_bytes(events)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    args = (0, 4, NOW, "postgresql", frozenset(), None, 5)

    def summary(source: _FileSource) -> tuple:
        """The stream's tags, and every chunk's rows (line numbers, COPY rows) joined."""
        try:
            events = list(source)
        finally:
            source.close()
        chunks = [value for tag, value in events if tag == "chunk"]
        return ([(tag, value) for tag, value in events if tag != "chunk"],
                [line for chunk in chunks for line in chunk.row_lines], b"".join(c.copy_data for c in chunks),
                [r for chunk in chunks for r in chunk.rejections])

    head_start = _FileSource(path, args, process=True, head_start=True)
    assert head_start._process is None  # not before its first chunk is handed over
    streamed = summary(head_start)
    inline = summary(_FileSource(path, args, process=False))
    assert streamed == inline
    assert [tag for tag, _ in streamed[0]] == (["header"] if ".csv" in name else []) + ["end"]
    first = 2 if ".csv" in name else 1  # a CSV file's first line is its header
    assert streamed[1] == list(range(first, lines + first))
