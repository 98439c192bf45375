"""Load one prepared chunk into the warehouse in one transaction, with its ledger progress.

PostgreSQL: one COPY claims the chunk's event ids in ``event_keys`` and a second COPY writes
the rows into their day partitions; when some id is already stored, the chunk instead goes
through a temporary stage and one INSERT that claims what it can. SQLite: the chunk's rows
arrive as a database image (``prepare.sqlite_image``), attached as ``ingest_chunk``, and one
``INSERT OR IGNORE ... SELECT`` stores them.

A line whose values the database refuses although validation passed them (a constraint or
trigger of the database's own, a value one backend cannot store) does not fail its chunk: the
chunk is bisected inside its transaction (savepoints) down to the lines that fail, those lines
are rejected with the database's own message, and every other line loads. Errors that are not
about a line's values (connection lost, disk full, a missing table) still fail the run.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from analytics_pipeline.ingestion.prepare import PreparedChunk, Rejection, binary_tail, copy_stream, sqlite_image
from analytics_pipeline.warehouse import Warehouse

# Errors a row's own values can cause. Anything else (psycopg/sqlite3 OperationalError:
# connection lost, database locked, disk full; ProgrammingError: schema missing) is not
# isolated to lines and fails the run, so nothing is rejected for the database's fault.
# psycopg's are added once psycopg is loaded (by a PostgreSQL warehouse): importing it costs
# every run process 50 ms, and a SQLite deployment never needs it.
SQLITE_LINE_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.DataError,
    sqlite3.IntegrityError,  # constraints, a trigger's RAISE(ABORT)
)


def line_errors() -> tuple[type[BaseException], ...]:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return SQLITE_LINE_ERRORS
    return SQLITE_LINE_ERRORS + (
        psycopg.DataError,
        psycopg.IntegrityError,
        psycopg.errors.RaiseException,  # a trigger's RAISE EXCEPTION (P0001)
        psycopg.errors.ProgramLimitExceeded,
    )


MAX_DB_REASON = 500

RawLines = Callable[[list[int]], dict[int, str]]


class YieldTurn(Exception):
    """Raised inside a chunk's COPY savepoint when the chunk committing before it waits for a
    lock: the savepoint rolls back (its locks go), the chunk waits its turn, then loads again."""


class Turn(Protocol):
    """A chunk's place among chunks loading at once (see ``run._Turn``)."""

    def ordered(self, backend_pid: int | None = None) -> None: ...

    def wait(self, cursor: Any = None) -> None: ...


class _Alone:
    """The turn of a chunk that nothing loads beside."""

    def ordered(self, backend_pid: int | None = None) -> None:
        pass

    def wait(self, cursor: Any = None) -> None:
        pass


# Rounds of the fast path a chunk may try when it deadlocks with the chunk beside it (each
# round it first waits for that one to commit, so a second round is already rare).
MAX_FAST_ROUNDS = 5


@dataclass
class LoadOutcome:
    batch_id: int
    loaded: int
    duplicates: int
    rejections: list[Rejection]  # the chunk's own plus the lines the database refused


def is_line_error(error: BaseException) -> bool:
    """Whether ``error`` (raw, or wrapped by SQLAlchemy) is about a row's values."""
    return isinstance(getattr(error, "orig", None) or error, line_errors())


def database_reason(error: BaseException) -> str:
    """The database's own message for a refused line, on one line."""
    orig = getattr(error, "orig", None) or error
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    reason = f"the database refused this line: {message}"
    return reason if len(reason) <= MAX_DB_REASON else reason[:MAX_DB_REASON - 3] + "..."


def ensure_partitions(warehouse: Warehouse, days: set[str]) -> None:
    """PostgreSQL: create the day partitions of ``events`` that ``days`` need, in a transaction
    of their own, before the chunk's. Creating a partition waits for every open insert into
    ``events``; inside a chunk's transaction it would also hold the table against the chunk
    loading beside it, which may be the one this chunk waits to commit after."""
    if not days or not warehouse.is_postgres:
        return
    with warehouse.begin() as conn:
        for day in sorted(days):
            conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})


def load_chunk(warehouse: Warehouse, conn: Connection, chunk: PreparedChunk, file_id: int,
               source_file: str, raw_lines: RawLines | None = None, turn: Turn | None = None) -> LoadOutcome:
    """Write ``chunk``'s rows, rejections and ledger progress inside ``conn``'s transaction.
    ``raw_lines(line_numbers)`` gives the raw text of lines the database refused; the chunk's
    day partitions exist already (:func:`ensure_partitions`). ``turn``:
    when another chunk loads beside this one, the order between them (the batch id is taken
    after that one's, everything after the rows is written once that one committed)."""
    turn = turn or _Alone()
    now = datetime.now(timezone.utc)
    batch_id = conn.execute(
        warehouse.sql("insert_ingest_batch"),
        {"file_id": file_id, "first_line": chunk.first_line, "last_line": chunk.last_line,
         "committed_at": warehouse.ts(now)},
    ).scalar_one()
    turn.ordered(conn.connection.driver_connection.info.backend_pid if warehouse.is_postgres else None)

    loaded = 0
    refused: list[tuple[int, str]] = []  # (row index, reason)
    rows = len(chunk.row_lines)
    if rows:
        with _attached_image(warehouse, conn, chunk) if warehouse.is_sqlite else nullcontext():
            loaded = _Loader(warehouse, conn, chunk, batch_id, source_file, now, turn).load_isolating(rows, refused)
    turn.wait()
    rejections = list(chunk.rejections)
    if refused:
        lines = [chunk.row_lines[index] for index, _ in refused]
        raw = raw_lines(lines) if raw_lines is not None else {}
        rejections += [(line, raw.get(line, ""), reason) for line, (_, reason) in zip(lines, refused)]
        rejections.sort(key=lambda r: r[0])
    duplicates = chunk.accepted - loaded - len(refused)

    if rejections:
        rejected_at = warehouse.ts(now)
        conn.execute(
            warehouse.sql("insert_rejected_event"),
            [
                {"source_file": source_file, "line_number": line, "raw": raw, "reason": reason,
                 "rejected_at": rejected_at}
                for line, raw, reason in rejections
            ],
        )
    conn.execute(warehouse.sql("update_ingest_batch_loaded"), {"loaded": loaded, "batch_id": batch_id})
    conn.execute(
        warehouse.sql("advance_ingest_file"),
        {"last_line": chunk.last_line, "lines": chunk.lines, "loaded": loaded,
         "duplicates": duplicates, "rejected": len(rejections), "file_id": file_id},
    )
    return LoadOutcome(batch_id, loaded, duplicates, rejections)


class ChunkMismatch(RuntimeError):
    """A chunk whose rows do not match its accepted lines: nothing of it is loaded."""


def _check_rows(chunk: PreparedChunk, held: int) -> None:
    """Refuse a chunk that carries other than one row per accepted line. It would otherwise
    count the missing rows as duplicates and lose them without a word: a parser process and a
    loader of two code versions (files replaced during a run) once did exactly that."""
    if held != len(chunk.row_lines):
        raise ChunkMismatch(
            f"chunk of lines {chunk.first_line}-{chunk.last_line}: it carries {held} rows for "
            f"{len(chunk.row_lines)} accepted lines, so nothing of it was loaded (are the parser "
            "processes running other code than the loader?); the next run loads it again")


IMAGE_SCHEMA = "ingest_chunk"  # as attach_chunk_image.sql and insert_events_from_chunk.sql name it


@functools.cache
def _empty_image() -> bytes:
    return sqlite_image([])


@contextmanager
def _attached_image(warehouse: Warehouse, conn: Connection, chunk: PreparedChunk) -> Iterator[None]:
    """SQLite: the chunk's rows as the database ``ingest_chunk`` of ``conn`` while the block
    runs (a chunk prepared in this process is made into an image here). Attached once per
    connection; emptied afterwards, so a pooled connection keeps no chunk in memory."""
    db = conn.connection.driver_connection
    if not any(row[1] == IMAGE_SCHEMA for row in db.execute("PRAGMA database_list")):
        db.execute(warehouse.sql_text("attach_chunk_image"))
    db.deserialize(chunk.rows_image or sqlite_image(chunk.rows), name=IMAGE_SCHEMA)
    try:
        _check_rows(chunk, db.execute(warehouse.sql_text("count_chunk_image_rows")).fetchone()[0])
        yield
    finally:
        try:
            db.deserialize(_empty_image(), name=IMAGE_SCHEMA)
        except sqlite3.Error:
            pass  # the connection is failing already; the chunk's memory goes with it


class _Loader:
    """Loads rows ``[lo, hi)`` of one chunk; on a line error, bisects inside savepoints."""

    def __init__(self, warehouse: Warehouse, conn: Connection, chunk: PreparedChunk, batch_id: int,
                 source_file: str, now: datetime, turn: Turn) -> None:
        self.warehouse = warehouse
        self.turn = turn
        self.conn = conn
        self.chunk = chunk
        self.batch_id = batch_id
        self.source_file = source_file
        self.now = now
        self.rows = 0

    def load_isolating(self, rows: int, refused: list[tuple[int, str]]) -> int:
        self.rows = rows
        loaded, error = self._attempt(0, rows)
        if error is None:
            return loaded
        return self._bisect(0, rows, error, refused)

    def _attempt(self, lo: int, hi: int) -> tuple[int, BaseException | None]:
        try:
            with self.conn.begin_nested():
                return self._load(lo, hi), None
        except Exception as error:
            if not is_line_error(error):
                raise
            return 0, error

    def _bisect(self, lo: int, hi: int, error: BaseException, refused: list[tuple[int, str]]) -> int:
        if hi - lo == 1:
            refused.append((lo, database_reason(error)))
            return 0
        mid = (lo + hi) // 2
        loaded = 0
        for a, b in ((lo, mid), (mid, hi)):
            part, part_error = self._attempt(a, b)
            loaded += part if part_error is None else self._bisect(a, b, part_error, refused)
        return loaded

    def _load(self, lo: int, hi: int) -> int:
        if self.warehouse.is_postgres:
            return self._load_postgres(lo, hi)
        return self._load_sqlite(lo, hi)

    def _load_sqlite(self, lo: int, hi: int) -> int:
        # The attached image's rows lo..hi (rowids lo + 1..hi): one statement, no row bound.
        cursor = self.conn.connection.driver_connection.execute(
            self.warehouse.sql_text("insert_events_from_chunk"),
            {"ingested_at": self.warehouse.ts(self.now), "source_file": self.source_file,
             "batch_id": self.batch_id, "first_row": lo, "last_row": hi})
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _load_postgres(self, lo: int, hi: int) -> int:
        chunk = self.chunk
        whole = lo == 0 and hi == self.rows
        if not whole:
            self.turn.wait()  # isolating refused lines: alone
        # Binary COPY streams of rows lo..hi: each event row gets the batch's own columns.
        tail = binary_tail(self.now, self.source_file, self.batch_id)
        data, rows = copy_stream(chunk.copy_data, 10, tail, lo, hi if not whole else -1)
        key_data, keys = copy_stream(chunk.key_data, 2, b"", lo, hi if not whole else -1)
        if whole:
            _check_rows(chunk, rows)
            _check_rows(chunk, keys)
        warehouse = self.warehouse
        import psycopg  # loaded already: this connection is psycopg's

        raw = self.conn.connection.driver_connection
        for _ in range(MAX_FAST_ROUNDS if whole else 1):
            try:
                # Fast path: claim every key with one COPY, then COPY the rows straight into
                # their day partitions. A key already stored aborts the claim (savepoint).
                # (memoryview: psycopg sends a stream in 128 KiB slices, which copy bytes.)
                with raw.transaction(), raw.cursor() as cursor:
                    with cursor.copy(warehouse.sql_text("copy_event_keys")) as copy:
                        copy.write(memoryview(key_data))
                    with cursor.copy(warehouse.sql_text("copy_events")) as copy:
                        copy.write(memoryview(data))
                    # Keep the rows until the chunk before this one committed (it may need a
                    # lock of ours: then roll them back and load again after it).
                    self.turn.wait(cursor)
                return rows
            except psycopg.errors.UniqueViolation:
                break
            except (YieldTurn, psycopg.errors.DeadlockDetected):
                self.turn.wait()
        else:
            raise RuntimeError(f"chunk of lines {chunk.first_line}-{chunk.last_line}: kept deadlocking "
                               f"with the chunk loading beside it ({MAX_FAST_ROUNDS} rounds)")
        self.turn.wait()
        # Slow path: some event ids are already stored; only the keys claimed now are loaded.
        self.conn.execute(warehouse.sql("create_event_stage"))
        # Rows staged by an earlier part of a bisected chunk are already claimed: the merge
        # skips them (ON CONFLICT DO NOTHING), so the stage needs no emptying in between.
        with raw.cursor() as cursor, cursor.copy(warehouse.sql_text("copy_event_stage")) as copy:
            copy.write(memoryview(data))
        return self.conn.execute(warehouse.sql("merge_stage_into_events")).rowcount
