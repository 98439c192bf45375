"""Turn a chunk of raw records into load-ready rows and rejections (runs in worker processes).

Pure CPU work with no database: it is what runs on the second core beside the loader. The
output is a :class:`PreparedChunk`: for PostgreSQL the accepted rows are already encoded as
binary COPY rows, for SQLite they are tuples, which a parser process hands over as a database
image (:func:`sqlite_image`).
"""

from __future__ import annotations

import csv
import functools
import gc
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from analytics_pipeline.ingestion.readers import (
    CSV_ERROR,
    FileFormatError,
    file_kind,
    iter_csv_batches,
    iter_jsonl_batches,
    rechunk,
)
from analytics_pipeline.ingestion.validate import (
    _REFERRER_CACHE,
    EventRow,
    fast_event_row,
    future_limit_text,
    normalise_referrer,
    redact_raw,
    start_floor_text,
    validate_event,
)

try:  # the compiled fast path (_fastpath.c), built by ``pip install -e .``
    from analytics_pipeline.ingestion import _fastpath as compiled
except ImportError:  # a source tree nobody built: the Python fast path does the same, slower
    compiled = None

Rejection = tuple[int, str, str]  # line_number, raw, reason

# Columns every CSV header must name: without one of them no line of the file can be valid
# (event_name and url_path are required only for one event type each).
REQUIRED_CSV_COLUMNS = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "occurred_at")
_BOM = b"\xef\xbb\xbf"
# settings.SQL_DIR / "sqlite", without importing settings (and Dagster) in parser processes.
_SQLITE_SQL = Path(__file__).resolve().parent.parent.parent / "sql" / "sqlite"



@dataclass
class PreparedChunk:
    first_line: int
    last_line: int
    lines: int
    accepted: int = 0
    rows: list[EventRow] = field(default_factory=list)  # sqlite, in-chunk duplicates dropped
    copy_data: bytes | bytearray = b""  # postgresql: binary COPY rows of EVENT_COLUMNS' first 10 (copy_stream adds the rest)
    key_data: bytes | bytearray = b""  # postgresql: binary COPY rows of (event_id, occurred_at) of the same rows
    rejections: list[Rejection] = field(default_factory=list)
    row_lines: list[int] = field(default_factory=list)  # line number of each accepted row, in order
    days: set[str] = field(default_factory=set)  # UTC days of the rows (partitions to ensure)
    day_counts: dict[str, int] = field(default_factory=dict)  # rows per UTC day
    cpu_seconds: float = 0.0  # CPU spent preparing it (parsing and validation), where it ran
    read_seconds: float = 0.0  # CPU spent reading it from the file (decompressing, splitting, CSV)
    rows_image: bytes = b""  # sqlite: ``rows`` as a database image, on the way from a parser process
    image_seconds: float = 0.0  # CPU spent making ``rows_image`` (loading's work, done by the parser process)


# -- SQLite: a chunk's rows as a database image ---------------------------------------------
@functools.cache
def _image_sql(name: str) -> str:
    return (_SQLITE_SQL / f"{name}.sql").read_text()


def sqlite_image(rows: list[EventRow]) -> bytes:
    """``rows`` as a serialized in-memory SQLite database: table ``chunk_rows``, row i at rowid
    i + 1 (``sql/sqlite/create_chunk_image.sql``). The loader attaches the image and stores the
    rows with one ``INSERT ... SELECT`` (``insert_events_from_chunk.sql``), which binds nothing
    and runs without the GIL. Binding the same rows one by one into ``events`` with
    ``executemany`` took the loader 2.5x the time; binding them here is a parser process's
    work, on the other core."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute(_image_sql("create_chunk_image"))
        db.execute("BEGIN")
        db.executemany(_image_sql("insert_chunk_image_rows"), rows)
        db.execute("COMMIT")
        return db.serialize()
    finally:
        db.close()


# -- binary COPY (what the compiled fast path writes, for the rows Python decides) -------------
_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_TIMESTAMP = re.compile(r"(\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})")
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"


def _text_field(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def timestamp_field(value: datetime | str) -> bytes:
    """PostgreSQL's binary timestamptz of a UTC datetime or a stored ``TS_FORMAT`` text."""
    if isinstance(value, str):
        match = _TIMESTAMP.fullmatch(value)
        if match is None:
            raise ValueError(f"not a stored timestamp: {value!r}")
        value = datetime(*map(int, match.groups()))
    elif value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return b"\x00\x00\x00\x08" + ((value - _PG_EPOCH) // _MICROSECOND).to_bytes(8, "big", signed=True)


def binary_row(values: EventRow) -> bytes:
    """One event's binary COPY row, as the compiled fast path writes it: its 10 values under a
    field count of 13 (:func:`copy_stream` adds the last three)."""
    properties = values[9]
    if properties is None:
        last = _NULL
    else:
        data = properties.encode("utf-8")
        last = (len(data) + 1).to_bytes(4, "big") + b"\x01" + data
    return b"\x00\x0d" + b"".join(map(_text_field, values[:8])) + timestamp_field(values[8]) + last


def binary_key(event_id: str, timestamp: str) -> bytes:
    return b"\x00\x02" + _text_field(event_id) + timestamp_field(timestamp)


def binary_tail(ingested_at: datetime, source_file: str, batch_id: int) -> bytes:
    """The last three fields of every event row of a batch (what :func:`copy_stream` adds)."""
    return (timestamp_field(ingested_at) + _text_field(source_file)
            + b"\x00\x00\x00\x08" + batch_id.to_bytes(8, "big", signed=True))


def _row_end(data: bytes | bytearray, pos: int, present: int) -> int:
    pos += 2
    for _ in range(present):
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4 if size == 0xFFFFFFFF else 4 + size
    if pos > len(data):
        raise ValueError("copy_stream: data is not whole binary COPY rows")
    return pos


def _copy_stream(data: bytes | bytearray, present: int, tail: bytes, lo: int, hi: int) -> tuple[bytes, int]:
    """``_fastpath.copy_stream`` (see there), for a source tree nobody built."""
    parts, pos, row = [COPY_HEADER], 0, 0
    while pos < len(data) and (hi < 0 or row < hi):
        end = _row_end(data, pos, present)
        if row >= lo:
            parts += (data[pos:end], tail)
        pos, row = end, row + 1
    parts.append(COPY_TRAILER)
    return b"".join(parts), max(0, row - lo)


copy_stream = compiled.copy_stream if compiled is not None else _copy_stream


def _csv_raw(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def raw_text(kind: str, payload: Any) -> str:
    """A rejected record as stored in ``rejected_events.raw`` (redacted, cut at 64 KiB)."""
    if kind == "csv":
        raw = "" if payload[:1] == [CSV_ERROR] else _csv_raw(payload)
    else:
        raw = payload.decode("utf-8", "replace").rstrip("\r\n")
    return redact_raw(raw)


def csv_header_problem(header: list[str]) -> str | None:
    """The one reason every line of a CSV file is rejected when its header lacks a required
    column, naming the missing columns and the header found; ``None`` for a usable header."""
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in header]
    if not missing:
        return None
    found = ",".join(header)
    if len(found) > 200:
        found = found[:197] + "..."
    return (f"CSV header lacks required column(s) {', '.join(missing)}; header found: {found!r}")


# The fields the compiled fast path reads, in its order (_fastpath.c's F_* constants).
COMPILED_FIELDS = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "occurred_at",
                   "event_name", "url_path", "referrer", "properties")


def compiled_columns(header: list[str]) -> tuple[int, ...] | None:
    """Each of :data:`COMPILED_FIELDS`' cell index in a CSV record (-1: no such column), or
    ``None`` when a field's column is named twice (then the last one counts, as in
    :func:`_csv_object`: the general way)."""
    if any(header.count(name) > 1 for name in COMPILED_FIELDS):
        return None
    return tuple(header.index(name) if name in header else -1 for name in COMPILED_FIELDS)


def _csv_object(header: list[str], cells: list[str]) -> dict[str, Any] | str:
    if cells[:1] == [CSV_ERROR]:
        return f"malformed CSV record: {cells[1]}"
    if len(cells) != len(header):
        return f"CSV record has {len(cells)} fields, the header has {len(header)}"
    try:
        "".join(cells).encode("utf-8")  # undecodable bytes were kept as surrogates
    except UnicodeEncodeError:
        return "line is not valid UTF-8"
    obj: dict[str, Any] = {name: cell or None for name, cell in zip(header, cells)}
    properties = obj.get("properties")
    if properties is not None:
        try:
            obj["properties"] = orjson.loads(properties)
        except orjson.JSONDecodeError as exc:
            return f"properties is not valid JSON: {exc}"
    return obj


def prepare_chunk(
    kind: str,
    header: list[str] | None,
    records: list[tuple[int, Any]],
    now: datetime,
    dialect: str,
    frozen_days: frozenset[str] = frozenset(),
    start: date | None = None,
) -> PreparedChunk:
    """Validate ``records`` (see :mod:`readers`) as of ``now``; ``occurred_at`` before ``start``
    (``ANALYTICS_START_DATE``) is rejected. A UTF-8 byte-order mark opening line 1 is ignored.

    A later line repeating an ``event_id`` of the chunk is dropped here (first one wins; it
    counts as a duplicate when loaded). For PostgreSQL the accepted rows become ``copy_data``
    (binary COPY rows of the :data:`EVENT_COLUMNS`, in line order) and ``key_data``."""
    started = time.thread_time()
    chunk = PreparedChunk(first_line=records[0][0], last_line=records[-1][0], lines=len(records))
    rows = chunk.rows
    rejections = chunk.rejections
    row_lines = chunk.row_lines
    header_problem = csv_header_problem(header or []) if kind == "csv" else None
    floor = start_floor_text(start)
    day_counts = chunk.day_counts
    postgres = dialect == "postgresql"
    seen: set[str] = set()
    # The common valid record takes the compiled fast path (below) or else fast_event_row;
    # anything else gets validate_event's verdict.
    limit = future_limit_text(now) if now.tzinfo is not None else None
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    jsonl = kind == "jsonl"
    # Days retention dropped: UTC days, or with websites in other zones local days
    # (websites.FrozenLocalDays).
    frozen_utc = frozen_days if isinstance(frozen_days, frozenset) else None
    frozen_local = frozen_days if frozen_utc is None and frozen_days else None
    copy_data = bytearray()
    key_data = bytearray()
    # Runs of common valid records go through the compiled fast path (_fastpath.c), which
    # stops at the first record it is not sure of; the loop below decides that one.
    run = None
    if compiled is not None and limit is not None:
        if jsonl:
            run, extra = compiled.jsonl_run, ()
        elif header_problem is None and (columns := compiled_columns(header or [])) is not None:
            run, extra = compiled.csv_run, (columns, len(header or []))
        # With websites in other zones, any UTC day near a frozen one goes the Python way.
        frozen_near = frozen_utc if frozen_local is None else frozen_local.near_days
        state = (postgres, limit, floor, frozen_near or None, seen, row_lines, day_counts, rows, copy_data,
                 key_data, _REFERRER_CACHE, normalise_referrer)
    index, total = 0, len(records)
    while index < total:
        if run is not None:
            index = run(records, index, *extra, *state)
            if index == total:
                break
        line_number, payload = records[index]
        index += 1
        if jsonl:
            if line_number == 1 and payload.startswith(_BOM):
                payload = payload[3:]
                if not payload.strip():
                    chunk.lines -= 1  # a line holding only the byte-order mark is blank
                    continue
            try:
                obj = loads(payload)
            except decode_error as exc:
                raw = payload.decode("utf-8", "replace").rstrip("\r\n")
                reason = "line is not valid UTF-8" if "utf-8" in str(exc).lower() else f"invalid JSON: {exc}"
                rejections.append((line_number, redact_raw(raw), reason))
                continue
            # An escaped NUL needs validate_event's reason (text columns cannot store it).
            unusual = b"\\u0000" in payload
        else:
            if header_problem is not None:
                rejections.append((line_number, raw_text(kind, payload), header_problem))
                continue
            obj = _csv_object(header or [], payload)
            if isinstance(obj, str):
                raw = "" if payload[:1] == [CSV_ERROR] else _csv_raw(payload)
                rejections.append((line_number, redact_raw(raw), obj))
                continue
            unusual = "\x00" in "".join(payload)
        result = None
        if limit is not None and not unusual:
            result = fast_event_row(obj, limit, floor)
        if result is None:
            result = validate_event(obj, now, start)
            if isinstance(result, str):
                rejections.append((line_number, raw_text(kind, payload), result))
                continue
        timestamp = result[8]
        day = timestamp[:10]
        if frozen_utc:
            frozen = day if day in frozen_utc else None
        elif frozen_local is not None:
            frozen = frozen_local.local_day(result[1], day, timestamp)
        else:
            frozen = None
        if frozen is not None:
            rejections.append((line_number, raw_text(kind, payload),
                               f"occurred_at falls on {frozen}, a day whose raw events retention has deleted "
                               "(its statistics are final)"))
            continue
        event_id = result[0]
        if event_id in seen:
            continue
        seen.add(event_id)
        row_lines.append(line_number)
        day_counts[day] = day_counts.get(day, 0) + 1
        if postgres:
            copy_data += binary_row(result)
            key_data += binary_key(event_id, timestamp)
        else:
            rows.append(result)
    chunk.accepted = chunk.lines - len(rejections)
    chunk.days = set(day_counts)
    if copy_data:
        chunk.copy_data, chunk.key_data = copy_data, key_data  # no copy: pickled as they are
    chunk.cpu_seconds = time.thread_time() - started
    return chunk


# -- one whole file: what a parser process (or the loader, inline) runs --------------------------
# A file's stream of events: ("header", CSV header) once for CSV files, ("chunk", PreparedChunk)
# per chunk in line order, then ("end", None) or ("unreadable", why) when the rest of the file
# cannot be read; a parser process that fails sends ("failed", its traceback).
FileEvent = tuple[str, Any]


def _timed(items: Iterator[Any], cpu: list[float]) -> Iterator[Any]:
    """``items``, adding this thread's CPU time spent producing each one to ``cpu[0]``."""
    while True:
        started = time.thread_time()
        try:
            item = next(items)
        except StopIteration:
            cpu[0] += time.thread_time() - started
            return
        cpu[0] += time.thread_time() - started
        yield item


def prepare_file(path: str, resume_after: int, chunk_lines: int, now: datetime, dialect: str,
                 frozen_days: Any = frozenset(), start: date | None = None,
                 first_chunk_lines: int | None = None) -> Iterator[FileEvent]:
    """Read one landing file after line ``resume_after`` and prepare it chunk by chunk (see
    :data:`FileEvent`; when ``first_chunk_lines`` is given, the first chunk is that long and
    each next one twice the one before, so the loader can start sooner). Memory stays at a few chunks whatever the file size."""
    file = Path(path)
    kind = file_kind(file) or "jsonl"
    reading = [0.0]
    try:
        if kind == "csv":
            header, batches = iter_csv_batches(file)
            yield "header", header
            if resume_after:
                batches = ([r for r in batch if r[0] > resume_after] for batch in batches)
        else:
            header, batches = None, iter_jsonl_batches(file, resume_after)
        for part in _timed(rechunk(batches, chunk_lines, first_chunk_lines), reading):
            chunk = prepare_chunk(kind, header, part, now, dialect, frozen_days, start)
            chunk.read_seconds, reading[0] = reading[0], 0.0
            yield "chunk", chunk
    except FileFormatError as exc:
        yield "unreadable", str(exc)
        return
    yield "end", None


def stream_file(queue: Any, *args: Any) -> None:
    """A parser process: :func:`prepare_file` onto ``queue`` (a bounded multiprocessing queue,
    so the process waits while the loader is behind)."""
    # A chunk's records are many small containers that die together, uncollected by the cyclic
    # collector; its full passes over them were a tenth of this process's CPU. Young cycles
    # are still collected (every 100,000 allocations), old ones all but never.
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)
    try:
        for event in prepare_file(*args):
            if event[0] == "chunk" and event[1].rows:
                # One bytes object crosses the pipe, and the loader binds no row of it.
                started = time.thread_time()
                event[1].rows_image, event[1].rows = sqlite_image(event[1].rows), []
                event[1].image_seconds = time.thread_time() - started
            queue.put(event)
    except BaseException:  # the loader reports it as the run's error
        import traceback

        queue.put(("failed", traceback.format_exc()))
