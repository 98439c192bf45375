"""Ingest every pending file in the landing directory, exactly once (SPEC §2).

The ledger (``ingest_files``) knows each file by its content hash. Every chunk commits its rows,
its rejections and the ledger's ``lines_committed`` together, so a crash anywhere leaves a state
from which the next run loads the rest of the file exactly once. Parsing and validation run in
worker processes beside the loader when there is enough data to pay for them.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sys
import time
import types
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from analytics_pipeline.ingestion.load import load_chunk
from analytics_pipeline.ingestion.prepare import PreparedChunk, prepare_block, prepare_chunk
from analytics_pipeline.ingestion.readers import (
    FileFormatError,
    file_kind,
    iter_csv,
    iter_jsonl,
    iter_jsonl_blocks,
)
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import FrozenLocalDays, current_websites

PROCESSED_DIR = "processed"
# One chunk is one transaction. SQLite pays per transaction for rewriting the index pages it
# touches (an index in random order, like occurred_at, is touched nearly everywhere), so large
# chunks load much faster: 100,000 lines cost 30% less CPU than 25,000 at 1M events. Memory
# stays bounded by a few chunks in flight, whatever the file size.
DEFAULT_CHUNK_LINES = 100_000
# Below this many bytes pending (about one chunk of JSONL), a worker process costs more than it
# saves: parsing only overlaps loading from the second chunk of a file on.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


@dataclass
class FileResult:
    name: str
    status: str  # "ingested" | "resumed" | "already ingested"
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    moved_to: str = ""


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    events_by_day: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first_batch: int | None = None
    last_batch: int | None = None

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def pending_files(landing_dir: Path) -> list[Path]:
    """Event files directly in the landing directory, oldest first. Hidden files and ``.tmp`` /
    ``.part`` names are still being written (drop files by writing then renaming)."""
    if not landing_dir.is_dir():
        return []
    files = [
        p for p in landing_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and file_kind(p) is not None
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _chunks(records: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    """Lists of ``size`` records. When reading fails part-way, the records read so far are
    yielded before the error propagates, so a corrupt tail costs only the unreadable lines."""
    iterator = iter(records)
    while True:
        chunk: list[tuple[int, Any]] = []
        try:
            for record in iterator:
                chunk.append(record)
                if len(chunk) >= size:
                    break
        except FileFormatError:
            if chunk:
                yield chunk
            raise
        if not chunk:
            return
        yield chunk


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While worker processes start, show them no ``__main__`` to re-import: under Dagster or
    the CLI that is an entry-point script whose imports take seconds, and the workers only run
    functions of :mod:`analytics_pipeline.ingestion.prepare`."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Preparer:
    """Runs the prepare tasks (:func:`prepare_block`, :func:`prepare_chunk`) inline or in a
    process pool, keeping results in order and at most two chunks per worker in flight (memory
    stays flat whatever the file size)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None
        if workers > 0:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["analytics_pipeline.ingestion.prepare"])
            forkserver.ensure_running()
            with _main_module_hidden():
                self._pool = context.Pool(workers)

    def map(self, tasks: Iterator[tuple[Callable[..., PreparedChunk], tuple]]) -> Iterator[PreparedChunk]:
        if self._pool is None:
            for function, args in tasks:
                yield function(*args)
            return
        window: deque = deque()
        try:
            for function, args in tasks:
                window.append(self._pool.apply_async(function, args))
                if len(window) >= self.workers * 2:
                    yield window.popleft().get()
        except GeneratorExit:
            raise
        except Exception:
            # Reading the file failed part-way: the chunks already read are committed before
            # the error is reported, so no line is lost between the two.
            while window:
                yield window.popleft().get()
            raise
        while window:
            yield window.popleft().get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()


def ingest_landing(
    warehouse: Warehouse,
    landing_dir: Path,
    *,
    now: Callable[[], datetime] | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    workers: int | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> IngestResult:
    """Ingest all pending files; see the module docstring for the guarantees.

    ``workers``: parser processes (default: one per core beyond the first when enough bytes are
    pending, else none). ``now``: the clock for the 5-minutes-in-the-future rule.
    """
    clock = now or (lambda: datetime.now(timezone.utc))
    files = pending_files(landing_dir)
    result = IngestResult()
    started = time.perf_counter()
    if workers is None:
        pending_bytes = sum(p.stat().st_size for p in files)
        workers = max(1, (os.cpu_count() or 1) - 1) if pending_bytes >= PARALLEL_MIN_BYTES else 0
    preparer = _Preparer(workers)
    try:
        with _one_ingester_at_a_time(warehouse):
            frozen = frozenset(str(Warehouse.to_date(r["day"])) for r in warehouse.query("select_retention_dropped_days"))
            websites = current_websites()
            if frozen and not websites.all_utc:
                frozen = FrozenLocalDays.of(websites, frozen)
            for path in files:
                file_result = _ingest_file(warehouse, path, landing_dir, preparer, clock, chunk_lines,
                                           result, log, frozen)
                result.files.append(file_result)
    finally:
        preparer.close()
    result.events_by_day = dict(sorted(result.events_by_day.items()))
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _one_ingester_at_a_time(warehouse: Warehouse) -> Iterator[None]:
    """On PostgreSQL, hold an advisory lock for the whole run: batch ids come from a sequence,
    and two ingesters committing out of id order could let the sessions watermark pass a batch
    that was not yet visible. (SQLite writers are serialised by BEGIN IMMEDIATE already.)"""
    if not warehouse.is_postgres:
        yield
        return
    with warehouse.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_lock(727275)")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(727275)")
            conn.commit()


def _ingest_file(warehouse: Warehouse, path: Path, landing_dir: Path, preparer: _Preparer,
                 clock: Callable[[], datetime], chunk_lines: int, result: IngestResult,
                 log: Callable[[str], None], frozen: frozenset[str] = frozenset()) -> FileResult:
    name = path.name
    sha = sha256_of(path)
    with warehouse.begin() as conn:
        row = conn.execute(warehouse.sql("select_ingest_file"), {"sha256": sha}).mappings().first()
        if row is None:
            file_id = conn.execute(
                warehouse.sql("insert_ingest_file"),
                {"sha256": sha, "path": name, "size_bytes": path.stat().st_size,
                 "started_at": warehouse.ts(clock())},
            ).scalar_one()
            resume_after, status = 0, "ingested"
        elif row["status"] == "done":
            moved = _move_processed(path, landing_dir, sha)
            log(f"{name}: already ingested as {row['path']} (same content), moved to {moved}")
            return FileResult(name, "already ingested", moved_to=str(moved))
        else:
            file_id, resume_after, status = row["file_id"], row["lines_committed"], "resumed"
            log(f"{name}: resuming after line {resume_after} (a previous run stopped mid-file)")

    file_result = FileResult(name, status)
    kind = file_kind(path)
    header: list[str] | None = None
    last_line = resume_after
    try:
        tasks: Iterator[tuple[Callable[..., PreparedChunk], tuple]]
        if kind == "jsonl" and not path.name.lower().endswith(".gz"):
            # Plain JSONL: ship whole blocks of lines; the worker splits them.
            tasks = ((prepare_block, (first, data, clock(), warehouse.dialect, frozen))
                     for first, data in iter_jsonl_blocks(path, chunk_lines, resume_after))
        else:
            if kind == "csv":
                header, records = iter_csv(path)
            else:
                records = iter_jsonl(path)
            if resume_after:
                records = (r for r in records if r[0] > resume_after)
            tasks = ((prepare_chunk, (kind, header, chunk, clock(), warehouse.dialect, frozen))
                     for chunk in _chunks(records, chunk_lines))
        for chunk in preparer.map(tasks):
            _commit_chunk(warehouse, chunk, file_id, name, file_result, result)
            last_line = chunk.last_line
            log(f"{name}: lines {chunk.first_line}-{chunk.last_line}: {file_result.loaded} loaded, "
                f"{file_result.duplicates} duplicates, {file_result.rejected} rejected so far")
    except FileFormatError as exc:
        # The unreadable rest of a file is one rejection, so the loss is visible and counted.
        line = last_line + 1
        failed = PreparedChunk(first_line=line, last_line=line, lines=1,
                               rejections=[(line, "", f"file unreadable from here on: {exc}")])
        _commit_chunk(warehouse, failed, file_id, name, file_result, result)

    with warehouse.begin() as conn:
        conn.execute(warehouse.sql("finish_ingest_file"), {"file_id": file_id, "finished_at": warehouse.ts(clock())})
    file_result.moved_to = str(_move_processed(path, landing_dir, sha))
    log(f"{name}: done: {file_result.lines} lines, {file_result.loaded} loaded, "
        f"{file_result.duplicates} duplicates, {file_result.rejected} rejected")
    return file_result


def _commit_chunk(warehouse: Warehouse, chunk: PreparedChunk, file_id: int, name: str,
                  file_result: FileResult, result: IngestResult) -> None:
    with warehouse.begin() as conn:
        batch_id, loaded, duplicates = load_chunk(warehouse, conn, chunk, file_id, name)
    if result.first_batch is None:
        result.first_batch = batch_id
    result.last_batch = batch_id
    # Events per day: the chunk's own count when every row was new (the usual case), else what
    # the batch actually stored.
    if loaded == sum(chunk.day_counts.values()):
        by_day = chunk.day_counts
    else:
        rows = warehouse.query("count_loaded_events_by_day", {"first_batch": batch_id, "last_batch": batch_id})
        by_day = {str(r["day"]): int(r["events"]) for r in rows}
    for day, events in by_day.items():
        result.events_by_day[day] = result.events_by_day.get(day, 0) + events
    file_result.lines += chunk.lines
    file_result.loaded += loaded
    file_result.duplicates += duplicates
    file_result.rejected += len(chunk.rejections)
    result.reasons.update(_reason_class(reason) for _, _, reason in chunk.rejections)


def _reason_class(reason: str) -> str:
    """The reason without the offending value, so top reasons group (``…: 'x'`` -> ``…``)."""
    for sep in (": ", " ("):
        if sep in reason:
            return reason.split(sep, 1)[0]
    return reason


def _move_processed(path: Path, landing_dir: Path, sha: str) -> Path:
    target_dir = landing_dir / PROCESSED_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{sha[:12]}{path.suffix}"
    shutil.move(str(path), target)
    return target
