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
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from analytics_pipeline.ingestion.load import load_chunk
from analytics_pipeline.ingestion.prepare import PreparedChunk, prepare_chunk
from analytics_pipeline.ingestion.readers import FileFormatError, file_kind, iter_csv, iter_jsonl
from analytics_pipeline.warehouse import Warehouse

PROCESSED_DIR = "processed"
DEFAULT_CHUNK_LINES = 25_000
# Below this many bytes pending, worker processes cost more than they save.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024


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
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


class _Preparer:
    """Runs :func:`prepare_chunk` inline or in a process pool, keeping results in order and at
    most ``window`` chunks in flight (memory stays flat whatever the file size)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = None
        if workers > 0:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["analytics_pipeline.ingestion.prepare"])
            self._pool = context.Pool(workers)

    def map(self, args: Iterator[tuple]) -> Iterator[PreparedChunk]:
        if self._pool is None:
            for a in args:
                yield prepare_chunk(*a)
            return
        window: deque = deque()
        try:
            for a in args:
                window.append(self._pool.apply_async(prepare_chunk, a))
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
        for path in files:
            file_result = _ingest_file(warehouse, path, landing_dir, preparer, clock, chunk_lines, result, log)
            result.files.append(file_result)
    finally:
        preparer.close()
    result.seconds = time.perf_counter() - started
    if result.first_batch is not None:
        rows = warehouse.query("count_loaded_events_by_day",
                               {"first_batch": result.first_batch, "last_batch": result.last_batch})
        result.events_by_day = {str(r["day"]): int(r["events"]) for r in rows}
    return result


def _ingest_file(warehouse: Warehouse, path: Path, landing_dir: Path, preparer: _Preparer,
                 clock: Callable[[], datetime], chunk_lines: int, result: IngestResult,
                 log: Callable[[str], None]) -> FileResult:
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
        if kind == "csv":
            header, records = iter_csv(path)
        else:
            records = iter_jsonl(path)
        if resume_after:
            records = (r for r in records if r[0] > resume_after)
        args = ((kind, header, chunk, clock(), warehouse.dialect) for chunk in _chunks(records, chunk_lines))
        for chunk in preparer.map(args):
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
