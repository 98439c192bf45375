"""Ingest every pending file in the landing directory, exactly once (SPEC §2).

The ledger (``ingest_files``) knows each file by its content hash. Every chunk commits its rows,
its rejections and the ledger's ``lines_committed`` together, so a crash anywhere leaves a state
from which the next run loads the rest of the file exactly once. Parsing and validation run in
worker processes beside the loader when there is enough data to pay for them.
"""

from __future__ import annotations

import fcntl
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
from datetime import date, datetime, timezone
from multiprocessing import forkserver
from pathlib import Path
from stat import S_ISREG
from typing import Any

import sqlalchemy as sa

from analytics_pipeline import settings
from analytics_pipeline.ingestion.load import load_chunk
from analytics_pipeline.ingestion.prepare import (
    PreparedChunk,
    csv_header_problem,
    prepare_block,
    prepare_chunk,
    raw_text,
)
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
# A file is unusable when more than this share of its non-blank lines is rejected: it finishes
# like any file (never retried), and the raw_events check fails naming it.
UNUSABLE_REJECTED_SHARE = 0.5
_PG_INGEST_LOCK = 727275


class IngestionLockLost(Exception):
    """The connection holding PostgreSQL's ingestion lock failed mid-run (the database restarted
    or the connection was cut): the run stops with the real cause instead of loading on without
    the lock. Everything committed so far stays; the next run resumes after it."""


@dataclass
class FileResult:
    name: str
    status: str  # "ingested" | "resumed" | "already ingested"
    lines: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    moved_to: str = ""
    problem: str | None = None  # why the file was unusable (see UNUSABLE_REJECTED_SHARE)
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    events_by_day: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # CPU seconds per stage, in whichever process ran it: "hashing" the files, "reading" them
    # into records (decompressing, splitting lines, CSV), "parsing and validation" (JSON
    # decoding and the rules, in the parser workers when there are any), "loading" (this
    # process's side of the writes). The database server's own CPU is not in here.
    stage_cpu: Counter[str] = field(default_factory=Counter)
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
    def problems(self) -> list[FileResult]:
        """Files of this run that were unusable (bad CSV header, mostly rejected)."""
        return [f for f in self.files if f.problem]

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def pending_files(landing_dir: Path) -> list[Path]:
    """Event files directly in the landing directory, oldest first. Hidden files and ``.tmp`` /
    ``.part`` names are still being written (drop files by writing then renaming)."""
    return [path for path, _ in pending_file_stats(landing_dir)]


def pending_file_stats(landing_dir: Path) -> list[tuple[Path, os.stat_result]]:
    """:func:`pending_files` with each file's ``stat``, taken once: a file moved away meanwhile
    (by a running ingestion) is simply not listed."""
    if not landing_dir.is_dir():
        return []
    found = []
    for path in landing_dir.iterdir():
        if path.name.startswith(".") or file_kind(path) is None:
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if S_ISREG(stat.st_mode):
            found.append((path, stat))
    return sorted(found, key=lambda item: (item[1].st_mtime, item[0].name))



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
    start_date: date | None = None,
) -> IngestResult:
    """Ingest all pending files; see the module docstring for the guarantees.

    ``workers``: parser processes (default: one per core beyond the first when enough bytes are
    pending, else none). ``now``: the clock for the 5-minutes-in-the-future rule.
    ``start_date``: events before it are rejected (default ``ANALYTICS_START_DATE``).
    One ingester at a time per warehouse (PostgreSQL: an advisory lock; SQLite: a lock file
    beside the database); a second one waits, then finds the files already done.
    """
    clock = now or (lambda: datetime.now(timezone.utc))
    start = start_date or settings.start_date()
    result = IngestResult()
    started = time.perf_counter()
    preparer: _Preparer | None = None
    try:
        with _one_ingester_at_a_time(warehouse, log) as check_lock:
            # Listed under the lock: a concurrent ingester has moved what it did meanwhile.
            files = pending_files(landing_dir)
            if workers is None:
                pending_bytes = sum(_size(p) for p in files)
                workers = max(1, (os.cpu_count() or 1) - 1) if pending_bytes >= PARALLEL_MIN_BYTES else 0
            preparer = _Preparer(workers)
            frozen = frozenset(str(Warehouse.to_date(r["day"])) for r in warehouse.query("select_retention_dropped_days"))
            websites = current_websites()
            if frozen and not websites.all_utc:
                frozen = FrozenLocalDays.of(websites, frozen)
            for path in files:
                file_result = _ingest_file(warehouse, path, landing_dir, preparer, clock, chunk_lines,
                                           result, log, frozen, start, check_lock)
                if file_result is not None:
                    result.files.append(file_result)
    finally:
        if preparer is not None:
            preparer.close()
    result.events_by_day = dict(sorted(result.events_by_day.items()))
    result.seconds = time.perf_counter() - started
    return result


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@contextmanager
def _one_ingester_at_a_time(warehouse: Warehouse, log: Callable[[str], None]) -> Iterator[Callable[[], None]]:
    """Hold the warehouse's ingestion lock for the whole run; yields a check to call before
    each commit. PostgreSQL: an advisory lock (batch ids come from a sequence, and two
    ingesters committing out of id order could let the sessions watermark pass a batch that
    was not yet visible). SQLite: an exclusive ``flock`` on ``<database>-ingest.lock`` (without
    it two ingesters would both process one file: each rejection stored twice, the ledger
    counts doubled). Both are released by the operating system or server if the process dies."""
    if warehouse.is_sqlite:
        with _sqlite_ingest_lock(warehouse, log):
            yield lambda: None
        return
    with warehouse.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_INGEST_LOCK})")
        conn.commit()

        def check_lock() -> None:
            try:
                conn.exec_driver_sql("SELECT 1")
                conn.rollback()
            except sa.exc.DBAPIError as exc:
                cause = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else exc
                raise IngestionLockLost(
                    f"the PostgreSQL connection holding the ingestion lock failed: {cause}") from exc

        try:
            yield check_lock
        finally:
            # After a failure (often the connection itself), unlocking must not replace the
            # real error; the server releases a dead session's lock on its own.
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_INGEST_LOCK})")
                conn.commit()
            except (sa.exc.DBAPIError, sa.exc.InvalidRequestError) as exc:
                conn.invalidate()
                log(f"ingestion lock not released explicitly ({type(exc).__name__}: its connection "
                    "failed); the server releases a dead session's lock itself")


@contextmanager
def _sqlite_ingest_lock(warehouse: Warehouse, log: Callable[[str], None]) -> Iterator[None]:
    database = sa.engine.make_url(warehouse.url).database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database + "-ingest.lock")
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another ingester is running on this warehouse; waiting for it ({lock_path.name})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ingest_file(warehouse: Warehouse, path: Path, landing_dir: Path, preparer: _Preparer,
                 clock: Callable[[], datetime], chunk_lines: int, result: IngestResult,
                 log: Callable[[str], None], frozen: frozenset[str], start: date,
                 check_lock: Callable[[], None]) -> FileResult | None:
    name = path.name
    stage_started = time.process_time()
    try:
        sha = sha256_of(path)
    except FileNotFoundError:
        log(f"{name}: gone before it was read (moved by someone else); skipped")
        return None
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
            moved = _move_processed(path, landing_dir, sha, log)
            log(f"{name}: already ingested as {row['path']} (same content), moved to {moved}")
            return FileResult(name, "already ingested", moved_to=str(moved))
        else:
            file_id, resume_after, status = row["file_id"], row["lines_committed"], "resumed"
            log(f"{name}: resuming after line {resume_after} (a previous run stopped mid-file)")

    file_result = FileResult(name, status)
    kind = file_kind(path)
    header: list[str] | None = None
    last_line = resume_after
    raw_lines = _raw_lines_reader(path, kind or "jsonl")
    try:
        tasks: Iterator[tuple[Callable[..., PreparedChunk], tuple]]
        if kind == "jsonl" and not path.name.lower().endswith(".gz"):
            # Plain JSONL: ship whole blocks of lines; the worker splits them.
            tasks = ((prepare_block, (first, data, clock(), warehouse.dialect, frozen, start))
                     for first, data in iter_jsonl_blocks(path, chunk_lines, resume_after))
        else:
            if kind == "csv":
                header, records = iter_csv(path)
            else:
                records = iter_jsonl(path)
            if resume_after:
                records = (r for r in records if r[0] > resume_after)
            tasks = ((prepare_chunk, (kind, header, chunk, clock(), warehouse.dialect, frozen, start))
                     for chunk in _chunks(records, chunk_lines))
        for chunk in preparer.map(_timed(tasks, result.stage_cpu, "reading")):
            result.stage_cpu["parsing and validation"] += chunk.cpu_seconds
            check_lock()
            stage_started = time.process_time()
            _commit_chunk(warehouse, chunk, file_id, name, file_result, result, raw_lines)
            result.stage_cpu["loading"] += time.process_time() - stage_started
            last_line = chunk.last_line
            log(f"{name}: lines {chunk.first_line}-{chunk.last_line}: {file_result.loaded} loaded, "
                f"{file_result.duplicates} duplicates, {file_result.rejected} rejected so far")
    except FileFormatError as exc:
        # The unreadable rest of a file is one rejection, so the loss is visible and counted.
        line = last_line + 1
        failed = PreparedChunk(first_line=line, last_line=line, lines=1,
                               rejections=[(line, "", f"file unreadable from here on: {exc}")])
        check_lock()
        _commit_chunk(warehouse, failed, file_id, name, file_result, result)

    with warehouse.begin() as conn:
        totals = conn.execute(warehouse.sql("select_ingest_file_totals"), {"file_id": file_id}).mappings().one()
        file_result.problem = _file_problem(header if kind == "csv" else None, totals, file_result.reasons)
        if file_result.problem:
            conn.execute(warehouse.sql("record_ingest_file_problem"),
                         {"file_id": file_id, "problem": file_result.problem})
        conn.execute(warehouse.sql("finish_ingest_file"), {"file_id": file_id, "finished_at": warehouse.ts(clock())})
    file_result.moved_to = str(_move_processed(path, landing_dir, sha, log))
    log(f"{name}: done: {file_result.lines} lines, {file_result.loaded} loaded, "
        f"{file_result.duplicates} duplicates, {file_result.rejected} rejected")
    if file_result.problem:
        log(f"{name}: UNUSABLE: {file_result.problem}")
    return file_result


def _timed(items: Iterator[Any], stage_cpu: Counter[str], stage: str) -> Iterator[Any]:
    """``items``, adding the CPU time spent producing each one to ``stage_cpu[stage]``."""
    while True:
        started = time.process_time()
        try:
            item = next(items)
        except StopIteration:
            stage_cpu[stage] += time.process_time() - started
            return
        stage_cpu[stage] += time.process_time() - started
        yield item


def _file_problem(header: list[str] | None, totals: Any, reasons: Counter[str]) -> str | None:
    """Why a finished file is unusable, from its whole ledger (a resumed file included)."""
    if header is not None:
        problem = csv_header_problem(header)
        if problem:
            return problem
    lines, rejected = int(totals["lines"]), int(totals["rejected"])
    if lines and rejected > lines * UNUSABLE_REJECTED_SHARE:
        top = reasons.most_common(1)
        return (f"{rejected} of {lines} non-blank lines rejected (more than half)"
                + (f"; most common reason: {top[0][0]} ({top[0][1]} lines)" if top else ""))
    return None


def _raw_lines_reader(path: Path, kind: str) -> Callable[[list[int]], dict[int, str]]:
    """Reads the raw text of given lines back from the file (rare: lines the database refused),
    redacted as every rejected line is."""

    def read(line_numbers: list[int]) -> dict[int, str]:
        wanted = set(line_numbers)
        found: dict[int, str] = {}
        try:
            records = iter_csv(path)[1] if kind == "csv" else iter_jsonl(path)
            for number, payload in records:
                if number in wanted:
                    if kind != "csv" and number == 1 and payload.startswith(b"\xef\xbb\xbf"):
                        payload = payload[3:]
                    found[number] = raw_text(kind, payload)
                    if len(found) == len(wanted):
                        break
        except (FileFormatError, OSError):
            pass  # what could be read is kept; the rest is stored without its raw text
        return found

    return read


def _commit_chunk(warehouse: Warehouse, chunk: PreparedChunk, file_id: int, name: str,
                  file_result: FileResult, result: IngestResult,
                  raw_lines: Callable[[list[int]], dict[int, str]] | None = None) -> None:
    with warehouse.begin() as conn:
        outcome = load_chunk(warehouse, conn, chunk, file_id, name, raw_lines)
    batch_id, loaded, duplicates, rejections = (outcome.batch_id, outcome.loaded, outcome.duplicates,
                                                outcome.rejections)
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
    file_result.rejected += len(rejections)
    classes = [_reason_class(reason) for _, _, reason in rejections]
    file_result.reasons.update(classes)
    result.reasons.update(classes)


def _reason_class(reason: str) -> str:
    """The reason without the offending value, so top reasons group (``…: 'x'`` -> ``…``)."""
    for sep in (": ", " ("):
        if sep in reason:
            return reason.split(sep, 1)[0]
    return reason


def _move_processed(path: Path, landing_dir: Path, sha: str,
                    log: Callable[[str], None] = lambda _msg: None) -> Path | str:
    """Move a finished file to ``processed/`` and stamp it with the time it was processed (the
    retention of processed files counts from then). A file someone else moved already is fine."""
    target_dir = landing_dir / PROCESSED_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{sha[:12]}{path.suffix}"
    try:
        shutil.move(str(path), target)
        os.utime(target)
    except FileNotFoundError:
        log(f"{path.name}: already moved out of the landing directory by someone else")
        return ""
    return target
