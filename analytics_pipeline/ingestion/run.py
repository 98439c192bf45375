"""Ingest every pending file in the landing directory, exactly once (SPEC §2).

The ledger (``ingest_files``) knows each file by its content hash. Every chunk commits its rows,
its rejections and the ledger's ``lines_committed`` together, so a crash anywhere leaves a state
from which the next run loads the rest of the file exactly once.

Three things overlap: files are read, parsed and validated in parser processes (when there is
enough data to pay for them; else on the calling thread), one file ahead per process; the
calling thread hands the prepared chunks to a commit thread (on PostgreSQL two, each loading
a chunk on its own connection), and chunks commit one after another in file and line order;
and the database works on the chunks while the next is prepared. The CPU of each stage is
counted in :attr:`IngestResult.stage_cpu`.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import multiprocessing
import os
import queue as queue_module
import shutil
import sys
import threading
import time
import types
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import partial
from multiprocessing import forkserver
from pathlib import Path
from stat import S_ISREG
from typing import Any

import sqlalchemy as sa

from analytics_pipeline import settings
from analytics_pipeline.ingestion.load import YieldTurn, ensure_partitions, load_chunk
from analytics_pipeline.ingestion.prepare import (
    FileEvent,
    PreparedChunk,
    csv_header_problem,
    prepare_file,
    raw_text,
    stream_file,
)
from analytics_pipeline.ingestion.readers import FileFormatError, file_kind, iter_csv, iter_jsonl
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import FrozenLocalDays, current_websites

PROCESSED_DIR = "processed"
# One chunk is one transaction. SQLite pays per transaction for rewriting the index pages it
# touches (an index in random order, like occurred_at, is touched nearly everywhere), so large
# chunks load much faster: 100,000 lines cost 30% less CPU than 25,000 at 1M events.
# PostgreSQL's cost per transaction is small, and smaller chunks let the server start sooner
# and overlap more with the preparing of the next one. Memory stays bounded by a few chunks in
# flight, whatever the file size.
DEFAULT_CHUNK_LINES = {"sqlite": 100_000, "postgresql": 25_000}
# The first chunk of a run: the loader waits for it with nothing to do, so it is short.
FIRST_CHUNK_LINES = 10_000
# Below this much data pending, a parser process costs more than it saves: everything runs in
# the loading process (still overlapping the database's work with a commit thread). A gzip
# file counts GZIP_SIZE_FACTOR times its size (about what it holds, uncompressed).
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
# PostgreSQL: chunks loading at once, each on its own connection (the server then works on two
# cores); they still commit one after another, in file and line order (see _Turn).
PG_COMMIT_LANES = 2
GZIP_SIZE_FACTOR = 8
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
    # process's side of the writes, and on SQLite the parser workers' binding of the rows into
    # chunk images). The database server's own CPU is not in here.
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


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a parser process starts, show it no ``__main__`` to re-import: under Dagster or
    the CLI that is an entry-point script whose imports take seconds, and the parsers only run
    functions of :mod:`analytics_pipeline.ingestion.prepare`."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class ParserProcessFailed(Exception):
    """A parser process died or raised: the run stops; what was committed stays."""


class _FileSource:
    """The :data:`prepare.FileEvent` stream of one file: from a parser process (started at
    once, so it reads and prepares while earlier files still load), or inline from this thread
    when ``process`` is false. ``head_start`` (the run's first file): its first chunk is
    prepared inline, and the parser process, started only after it (:meth:`start`), goes on
    from there with short chunks again (doubling up to the chunk size): the database gets to
    work without waiting for a process to start (about 0.1 s for the first)."""

    def __init__(self, path: Path, args: tuple, process: bool, head_start: bool = False) -> None:
        self.path = path
        self._args = args
        self._process: Any = None
        self._queue: Any = None
        self._inline: Any = None
        self._head: list[FileEvent] = []
        if not process:
            self._inline = prepare_file(str(path), *args)
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["analytics_pipeline.ingestion.prepare"])
        with _main_module_hidden():
            forkserver.ensure_running()  # it imports the preload meanwhile
        if head_start:
            self._inline = prepare_file(str(path), *args)
            for event in self._inline:
                self._head.append(event)
                if event[0] != "header":
                    break
            if self._head and self._head[-1][0] == "chunk":  # the rest: in a process, after it
                self._inline.close()
                self._inline = None
                # It starts small again: three parsers share the cores when it starts.
                self._args = (self._head[-1][1].last_line, *args[1:])
            return  # else the file ended in the head: nothing is left for a process
        self.start()

    def start(self) -> None:
        """Start the parser process for what the head did not hold (at once without a head)."""
        if self._process is not None or self._inline is not None:
            return
        context = multiprocessing.get_context("forkserver")
        # Two chunks ahead at most: memory stays flat whatever the file size.
        self._queue = context.Queue(maxsize=2)
        with _main_module_hidden():
            self._process = context.Process(target=stream_file, args=(self._queue, str(self.path), *self._args),
                                            name=f"ingest-parser {self.path.name}", daemon=True)
            self._process.start()

    def __iter__(self) -> Iterator[FileEvent]:
        yield from self._head
        if self._inline is not None:
            yield from self._inline
            return
        self.start()
        events = self._from_process()
        if self._head and self._head[0][0] == "header":
            next(events)  # the header again: it was read with the head
        yield from events

    def _from_process(self) -> Iterator[FileEvent]:
        while True:
            try:
                event = self._queue.get(timeout=1.0)
            except queue_module.Empty:
                if not self._process.is_alive():
                    # It may have put its last event just before ending.
                    try:
                        event = self._queue.get(timeout=1.0)
                    except queue_module.Empty:
                        raise ParserProcessFailed(
                            f"{self.path.name}: the parser process ended without finishing the file "
                            f"(exit code {self._process.exitcode})") from None
                else:
                    continue
            if event[0] == "failed":
                raise ParserProcessFailed(f"{self.path.name}: the parser process failed:\n{event[1]}")
            yield event
            if event[0] in ("end", "unreadable"):
                return

    def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._queue.close()
            self._process = None


class _CommitSkipped(Exception):
    """A write not run because an earlier one failed."""


class _Turn:
    """One write's place in the committer's order. A chunk write (``lanes`` > 1) takes its
    batch id only after the write before it took its own, loads its rows while that one still
    runs, and commits only after it committed: batch ids are committed in increasing order, and
    the ledger's ``lines_committed`` only ever moves forward. A file's finishing lets the next
    chunk start loading at once, and runs once the write before it ended. With one lane, every
    write waits for the one before it to end, then runs."""

    def __init__(self, previous: _Turn | None) -> None:
        self._previous = previous
        self._ordered = threading.Event()
        self._ended = threading.Event()
        self.failed = False
        self.backend_pid: int | None = None

    def begin(self) -> None:
        """Until the write before this one has its batch id (with one thread it has ended)."""
        if self._previous is not None:
            self._previous._ordered.wait()

    def after_previous(self) -> None:
        """Let the next write start loading once the write before has its batch id; return
        once that write has ended."""
        self.begin()
        self._ordered.set()
        self.wait()

    def ordered(self, backend_pid: int | None = None) -> None:
        """This write has taken its batch id (on the server process ``backend_pid``)."""
        self.backend_pid = backend_pid
        self._ordered.set()

    def wait(self, cursor: Any = None) -> None:
        """Until the write before this one has committed. ``cursor``: this write's own, inside
        the savepoint of rows it holds locks on; if a write before it that has not ended waits
        for a lock (maybe one of ours: the same event id in both chunks), :class:`YieldTurn` is
        raised so that the savepoint rolls back and lets it go on, rather than both waiting for
        ever (the server cannot see a wait that happens here, in the client)."""
        previous = self._previous
        if previous is None:
            return
        while not previous._ended.wait(0.05):
            if cursor is not None:
                pids = self._pids_before()
                cursor.execute("SELECT coalesce(bool_or(cardinality(pg_blocking_pids(pid)) > 0), false) "
                               "FROM unnest(%s::integer[]) AS pid", (pids,))
                if cursor.fetchone()[0]:
                    raise YieldTurn()
        if previous.failed:
            raise _CommitSkipped()
        self._previous = None  # ended: nothing to keep alive

    def _pids_before(self) -> list[int]:
        """The server processes of the writes before this one that have not ended."""
        pids, turn = [], self._previous
        while turn is not None and not turn._ended.is_set():
            if turn.backend_pid is not None:
                pids.append(turn.backend_pid)
            turn = turn._previous
        return pids

    def end(self, failed: bool) -> None:
        self.failed = failed
        self._previous = None
        self._ordered.set()
        self._ended.set()


class _Committer:
    """Runs the writes (chunk commits, then finishing each file) on background threads while
    the calling thread receives and prepares what comes next, so the database's work (the
    server's, or SQLite's with the GIL released) overlaps Python's. With ``lanes`` > 1
    (PostgreSQL), that many chunk writes load at once on their own connections, each
    committing only after the one before it (:class:`_Turn`), and one more thread finishes a
    file while the next file's chunks load. At most ``depth`` writes wait or run; once one
    fails, none after it commits. Each write's ``done`` callback runs on the calling thread, in
    order, once the write succeeded.

    Kinds of write: ``"chunk"`` (``write(turn)``, loads and commits a chunk), ``"after"``
    (``write()`` once every write before it ended: finishing a file), ``"free"`` (``write()``
    at once, outside the order: registering a file, whose chunks wait for it themselves)."""

    def __init__(self, depth: int = 3, lanes: int = 1) -> None:
        threads = lanes + 1 if lanes > 1 else 1
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest-commit")
        self._lanes = threading.Semaphore(lanes)  # chunks loading at once
        self._pending: deque[tuple[Future[Any], Callable[[Any], None]]] = deque()
        self._failed = threading.Event()
        self._last: _Turn | None = None
        self.lanes = lanes
        self.depth = max(depth, threads + 1)

    def submit(self, write: Callable[..., Any], done: Callable[[Any], None], kind: str = "after") -> None:
        while len(self._pending) >= self.depth:
            self._collect()
        if kind == "free":
            turn = _Turn(None)
        else:
            turn = self._last = _Turn(self._last)
        self._pending.append((self._executor.submit(self._run, write, turn, kind), done))

    def _run(self, write: Callable[..., Any], turn: _Turn, kind: str) -> Any:
        failed = True
        try:
            if kind == "chunk":
                # Started in order (the turn before has its batch id), so a chunk never holds
                # a lane that the chunk before it still waits for.
                turn.begin()
                with self._lanes:
                    if self._failed.is_set():
                        raise _CommitSkipped()
                    value = write(turn)
                    turn.wait()
            else:
                if kind == "after":
                    turn.after_previous()  # the next chunk may start loading meanwhile
                if self._failed.is_set():
                    raise _CommitSkipped()
                value = write()
            failed = False
            return value
        except BaseException:
            self._failed.set()
            raise
        finally:
            turn.end(failed)

    def _collect(self, quietly: bool = False) -> None:
        future, done = self._pending.popleft()
        try:
            value = future.result()
        except BaseException:
            if quietly:
                return
            raise
        done(value)

    def wait(self, quietly: bool = False) -> None:
        """Wait for every write handed over and run their callbacks; raise the first error
        (``quietly``: while another error is already on its way, only wait)."""
        try:
            while self._pending:
                self._collect(quietly)
        except BaseException:
            self._failed.set()
            while self._pending:  # the rest are skipped; let them end
                self._collect(quietly=True)
            raise

    def close(self) -> None:
        try:
            self.wait(quietly=True)
        finally:
            self._executor.shutdown(wait=True)


@dataclass
class _OpenFile:
    """A file being ingested: its ledger row and what its stream has told so far."""

    path: Path
    sha: str
    file_id: int | None  # None until the commit thread has written its ledger row
    result: FileResult
    source: _FileSource
    header: list[str] | None = None
    last_line: int = 0  # the last line of the last chunk handed to the committer
    registered: threading.Event = field(default_factory=threading.Event)  # file_id is known (or never will be)

    def wait_registered(self) -> int:
        """The ledger row's id, once the commit thread has written it."""
        self.registered.wait()
        if self.file_id is None:
            raise _CommitSkipped()  # registering failed; that error is the run's
        return self.file_id


def _parser_processes(workers: int | None, files: list[Path]) -> int:
    """How many files are read and prepared in parser processes at once (0: inline). A
    daemonic process (a Celery prefork worker, say) may not start processes: inline there."""
    if multiprocessing.current_process().daemon:
        return 0
    if workers is not None:
        return workers
    pending_bytes = sum(_size(p) * (GZIP_SIZE_FACTOR if p.name.lower().endswith(".gz") else 1) for p in files)
    return max(1, (os.cpu_count() or 1) - 1) if pending_bytes >= PARALLEL_MIN_BYTES else 0


def ingest_landing(
    warehouse: Warehouse,
    landing_dir: Path,
    *,
    now: Callable[[], datetime] | None = None,
    chunk_lines: int | None = None,
    workers: int | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    start_date: date | None = None,
) -> IngestResult:
    """Ingest all pending files; see the module docstring for the guarantees.

    ``workers``: files read and prepared at once in parser processes (default: one per core
    beyond the first when enough data is pending, else none: inline). ``now``: the clock for
    the 5-minutes-in-the-future rule. ``chunk_lines``: lines per transaction (default per
    backend, :data:`DEFAULT_CHUNK_LINES`). ``start_date``: events before it are rejected
    (default ``ANALYTICS_START_DATE``). One ingester at a time per warehouse (PostgreSQL: an
    advisory lock; SQLite: a lock file beside the database); a second one waits, then finds the
    files already done.
    """
    clock = now or (lambda: datetime.now(timezone.utc))
    start = start_date or settings.start_date()
    lines = chunk_lines or DEFAULT_CHUNK_LINES[warehouse.dialect]
    result = IngestResult()
    started = time.perf_counter()
    committer = _Committer(lanes=PG_COMMIT_LANES if warehouse.is_postgres else 1)
    opened: deque[_OpenFile | FileResult | Path] = deque()
    try:
        with _one_ingester_at_a_time(warehouse, log) as check_lock:
            # Listed under the lock: a concurrent ingester has moved what it did meanwhile.
            files = pending_files(landing_dir)
            parsers = _parser_processes(workers, files)
            frozen = frozenset(str(Warehouse.to_date(r["day"])) for r in warehouse.query("select_retention_dropped_days"))
            websites = current_websites()
            if frozen and not websites.all_utc:
                frozen = FrozenLocalDays.of(websites, frozen)
            ingest = _Ingest(warehouse, landing_dir, committer, clock, lines, result, log, frozen, start,
                             check_lock, parsers)
            try:
                _ingest_all(ingest, files, opened, committer, parsers, result)
            finally:
                # Nothing may still be writing once the lock is let go.
                committer.close()
    finally:
        for item in opened:
            if isinstance(item, _OpenFile):
                item.source.close()
        committer.close()
    result.events_by_day = dict(sorted(result.events_by_day.items()))
    result.seconds = time.perf_counter() - started
    return result


def _ingest_all(ingest: _Ingest, files: list[Path], opened: deque[Any], committer: _Committer,
                parsers: int, result: IngestResult) -> None:
    todo = deque(files)
    shas: set[str] = set()
    # Files open at once: with parser processes, two more than there are processes, so the
    # next files' first chunks are ready when the loader gets to them (a CSV file takes twice
    # as long to prepare as JSONL; the head start evens that out).
    window = parsers + 2 if parsers else 1

    def open_ahead() -> None:
        # The files after the one loading: hashed, looked up and their parsers started.
        while todo and len(opened) < window - 1:
            opened.append(ingest.open(todo.popleft(), shas))

    while todo or opened:
        head = opened.popleft() if opened else ingest.open(todo.popleft(), shas)
        if isinstance(head, Path):  # same content as a file of this run: after it
            committer.wait()
            head = ingest.open(head, shas, again=True)
        if isinstance(head, _OpenFile):
            ingest.load(head, open_ahead)  # opens the next ones once its first chunk is handed over
            continue
        open_ahead()
        if head is not None:
            # Listed after the files before it, whose writes may still be queued.
            committer.submit(lambda: None, partial(_append, result.files, head), kind="free")
    committer.wait()


def _append(files: list[FileResult], file: FileResult, _: None) -> None:
    files.append(file)


@dataclass
class _Ingest:
    """One run's files: :meth:`open` on this thread (hash, ledger row, parser started),
    :meth:`load` hands the chunks and the finishing of each file to the committer."""

    warehouse: Warehouse
    landing_dir: Path
    committer: _Committer
    clock: Callable[[], datetime]
    chunk_lines: int
    result: IngestResult
    log: Callable[[str], None]
    frozen: Any
    start: date
    check_lock: Callable[[], None]
    parsers: int
    opened_any: bool = False

    def open(self, path: Path, shas: set[str], again: bool = False) -> _OpenFile | FileResult | Path | None:
        """The file ready to load; a :class:`FileResult` when its content was ingested before;
        ``path`` itself when a file of this run has the same content (it is opened again once
        that one is done); ``None`` when it is gone."""
        warehouse, name = self.warehouse, path.name
        started = time.thread_time()
        try:
            sha = sha256_of(path)
        except FileNotFoundError:
            self.log(f"{name}: gone before it was read (moved by someone else); skipped")
            return None
        finally:
            self.result.stage_cpu["hashing"] += time.thread_time() - started
        if sha in shas and not again:
            return path
        shas.add(sha)
        # Read only here: on SQLite a write would wait for the commit thread's transaction.
        with warehouse.connect() as conn:
            row = conn.execute(warehouse.sql("select_ingest_file"), {"sha256": sha}).mappings().first()
        if row is not None and row["status"] == "done":
            moved = _move_processed(path, self.landing_dir, sha, self.log)
            self.log(f"{name}: already ingested as {row['path']} (same content), moved to {moved}")
            return FileResult(name, "already ingested", moved_to=str(moved))
        if row is None:
            file_id, resume_after, status = None, 0, "ingested"
        else:
            # Opened by a run that stopped before (or, opened ahead, before loading it).
            file_id, resume_after = row["file_id"], row["lines_committed"]
            status = "resumed" if resume_after else "ingested"
            if resume_after:
                self.log(f"{name}: resuming after line {resume_after} (a previous run stopped mid-file)")
        # The run's first chunk is small: the database starts while the rest is prepared.
        first_chunk = min(self.chunk_lines, FIRST_CHUNK_LINES) if not self.opened_any else None
        self.opened_any = True
        source = _FileSource(path, (resume_after, self.chunk_lines, self.clock(), warehouse.dialect,
                                    self.frozen, self.start, first_chunk), process=self.parsers > 0,
                             head_start=first_chunk is not None)
        opened = _OpenFile(path, sha, file_id, FileResult(name, status), source, last_line=resume_after)
        if file_id is None:
            # The ledger row is written on a commit thread, outside the order of the writes
            # (it depends on none of them); the file's own writes wait for it.
            try:
                self.committer.submit(partial(self._register, opened, path.stat().st_size, self.clock()),
                                      lambda _: None, kind="free")
            except BaseException:
                source.close()
                raise
        else:
            opened.registered.set()
        return opened

    def load(self, file: _OpenFile, then: Callable[[], None] = lambda: None) -> None:
        """Hand every chunk of ``file``, then its finishing, to the committer (in order).
        ``then`` runs once the first chunk is handed over (and the file's parser process
        started): while that chunk loads."""
        stage_cpu = self.result.stage_cpu
        raw_lines = _raw_lines_reader(file.path, file_kind(file.path) or "jsonl")
        opened_next = False
        try:
            for tag, value in file.source:
                if tag == "header":
                    file.header = value
                elif tag == "chunk":
                    stage_cpu["reading"] += value.read_seconds
                    stage_cpu["parsing and validation"] += value.cpu_seconds
                    stage_cpu["loading"] += value.image_seconds
                    self.committer.submit(partial(self._commit, file, value, raw_lines),
                                          partial(self._committed, file, value), kind="chunk")
                    file.last_line = value.last_line
                    if not opened_next:
                        opened_next = True
                        file.source.start()
                        then()
                elif tag == "unreadable":
                    # The unreadable rest of a file is one rejection, so the loss is visible and counted.
                    line = file.last_line + 1
                    failed = PreparedChunk(first_line=line, last_line=line, lines=1,
                                           rejections=[(line, "", f"file unreadable from here on: {value}")])
                    self.committer.submit(partial(self._commit, file, failed, None), lambda _: None, kind="chunk")
        except BaseException:
            self.committer.wait(quietly=True)  # the write in flight ends before anything else
            raise
        finally:
            file.source.close()
        if not opened_next:
            then()
        self.committer.submit(partial(self._finish, file), partial(self._finished, file))

    # -- on the committer's thread -------------------------------------------------------------
    def _register(self, file: _OpenFile, size: int, started_at: datetime) -> None:
        warehouse = self.warehouse
        try:
            with warehouse.begin() as conn:
                file_id = conn.execute(
                    warehouse.sql("insert_ingest_file"),
                    {"sha256": file.sha, "path": file.path.name, "size_bytes": size,
                     "started_at": warehouse.ts(started_at)},
                ).scalar_one()
            file.file_id = file_id
        finally:
            file.registered.set()

    def _commit(self, file: _OpenFile, chunk: PreparedChunk, raw_lines: Any, turn: _Turn) -> None:
        self.check_lock()
        started = time.thread_time()
        ensure_partitions(self.warehouse, chunk.days)
        _commit_chunk(self.warehouse, chunk, file.wait_registered(), file.path.name, file.result, self.result,
                      raw_lines, turn)
        self.result.stage_cpu["loading"] += time.thread_time() - started  # after the chunk before: in order

    def _finish(self, file: _OpenFile) -> tuple[str, list[str]]:
        warehouse, file_result = self.warehouse, file.result
        file_id = file.wait_registered()
        with warehouse.begin() as conn:
            totals = conn.execute(warehouse.sql("select_ingest_file_totals"),
                                  {"file_id": file_id}).mappings().one()
            file_result.problem = _file_problem(file.header, totals, file_result.reasons)
            if file_result.problem:
                conn.execute(warehouse.sql("record_ingest_file_problem"),
                             {"file_id": file.file_id, "problem": file_result.problem})
            conn.execute(warehouse.sql("finish_ingest_file"),
                         {"file_id": file.file_id, "finished_at": warehouse.ts(self.clock())})
        messages: list[str] = []
        moved = _move_processed(file.path, self.landing_dir, file.sha, messages.append)
        return str(moved), messages

    # -- back on the calling thread ------------------------------------------------------------
    def _committed(self, file: _OpenFile, chunk: PreparedChunk, _: None) -> None:
        r = file.result
        self.log(f"{r.name}: lines {chunk.first_line}-{chunk.last_line}: {r.loaded} loaded, "
                 f"{r.duplicates} duplicates, {r.rejected} rejected so far")

    def _finished(self, file: _OpenFile, outcome: tuple[str, list[str]]) -> None:
        r = file.result
        r.moved_to, messages = outcome
        for message in messages:
            self.log(message)
        self.log(f"{r.name}: done: {r.lines} lines, {r.loaded} loaded, {r.duplicates} duplicates, "
                 f"{r.rejected} rejected")
        if r.problem:
            self.log(f"{r.name}: UNUSABLE: {r.problem}")
        self.result.files.append(r)


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

        guard = threading.Lock()  # two commit threads may check at once

        def check_lock() -> None:
            try:
                with guard:
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
                  raw_lines: Callable[[list[int]], dict[int, str]] | None = None, turn: Any = None) -> None:
    with warehouse.begin() as conn:
        outcome = load_chunk(warehouse, conn, chunk, file_id, name, raw_lines, turn)
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
