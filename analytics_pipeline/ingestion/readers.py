"""Stream the records of one landing file, whatever its format, with memory flat in file size.

A record is ``(line_number, payload)``: for JSON lines the payload is the raw line (bytes); for
CSV it is the list of cells of one CSV record (which may span several physical lines), and
``line_number`` is the physical line the record starts on. Blank lines are skipped here.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

EVENT_SUFFIXES = (".jsonl", ".ndjson", ".csv")
# First cell of a record the csv module could not parse; the second cell says why.
CSV_ERROR = "\x00csv-error"
# The csv module refuses cells over 128 KiB; such a record is still a record, rejected by the
# rules (properties over 16 KiB) with its raw line, not lost to a parser limit.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(CSV_FIELD_LIMIT)
_CSV_BLOCK_BYTES = 1 << 20

try:  # the compiled readers (_fastpath.c), built by ``pip install -e .``
    from analytics_pipeline.ingestion._fastpath import csv_records as _csv_records
    from analytics_pipeline.ingestion._fastpath import jsonl_records as _jsonl_records
except ImportError:  # a source tree nobody built: Python reads the same records
    _csv_records = _jsonl_records = None


class FileFormatError(Exception):
    """The file cannot be read past some point (corrupt gzip, unreadable header)."""


def file_kind(path: Path) -> str | None:
    """``"jsonl"`` or ``"csv"`` for event files (optionally ``.gz``), else ``None``."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return None


def open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=1 << 20)


def iter_jsonl(path: Path) -> Iterator[tuple[int, bytes]]:
    with open_binary(path) as handle:
        line_number = 0
        try:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    yield line_number, line
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"file unreadable after line {line_number}: {exc}") from exc


_BLOCK_BYTES = 1 << 22
_FALLBACK_BATCH = 10_000  # records a list when Python reads line by line


def iter_jsonl_batches(path: Path, skip_through: int = 0,
                       block_bytes: int = _BLOCK_BYTES) -> Iterator[list[tuple[int, bytes]]]:
    """:func:`iter_jsonl`'s records after line ``skip_through``, as lists (those of one block
    read at a time), plain or gzip: the compiled ``_fastpath.jsonl_records`` cuts each block
    into lines, so no Python runs per line. When a read fails (a corrupt or truncated gzip),
    the lines before the break are read again line by line, exactly as :func:`iter_jsonl`
    gets them, then its :class:`FileFormatError` is raised."""
    if _jsonl_records is None:
        yield from rechunk(([r] for r in iter_jsonl(path) if r[0] > skip_through), _FALLBACK_BATCH)
        return
    line_num = 0
    with open_binary(path) as handle:
        buffer, pos, final = b"", 0, False
        while True:
            got, pos, line_num = _jsonl_records(buffer, pos, line_num, -1, final, skip_through)
            if got:
                yield got
            if final:
                return
            try:
                data = handle.read(block_bytes)
            except (EOFError, OSError, gzip.BadGzipFile):
                break
            buffer = buffer[pos:] + data
            pos = 0
            final = not data
    done = max(line_num, skip_through)
    yield from rechunk(([r] for r in iter_jsonl(path) if r[0] > done), _FALLBACK_BATCH)


def rechunk(batches: Iterator[list[Any]], size: int, first_size: int | None = None) -> Iterator[list[Any]]:
    """Lists of ``size`` records cut from lists of any length (when ``first_size`` is given,
    the first one that long and each next one twice the one before until ``size``). When
    reading fails part-way, the records read so far are yielded before the error propagates,
    so a corrupt tail costs only the unreadable lines."""
    wanted = first_size or size
    chunk: list[Any] = []
    try:
        for batch in batches:
            start = 0
            while start < len(batch):
                take = batch[start:start + wanted - len(chunk)]
                start += len(take)
                chunk += take
                if len(chunk) == wanted:
                    yield chunk
                    chunk = []
                    wanted = min(size, wanted * 2)
    except FileFormatError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def iter_csv(path: Path, block_bytes: int = _CSV_BLOCK_BYTES) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of records. Cells are decoded with ``surrogateescape`` so a
    record with invalid UTF-8 can be rejected as such instead of being silently altered."""
    header, batches = iter_csv_batches(path, block_bytes)
    return header, itertools.chain.from_iterable(batches)


def iter_csv_batches(path: Path,
                     block_bytes: int = _CSV_BLOCK_BYTES) -> tuple[list[str], Iterator[list[tuple[int, list[str]]]]]:
    """:func:`iter_csv`'s header and records, the records as lists (those of one block read at
    a time). The compiled reader (``_fastpath.csv_records``) reads the same records as
    :func:`iter_csv_module` (the csv module's) at about half its CPU; the one difference is
    that its field limit counts bytes, not characters."""
    if _csv_records is None:
        header, records = iter_csv_module(path)
        return header, rechunk(([r] for r in records), _FALLBACK_BATCH)
    handle = open_binary(path)
    blocks = _CsvBlocks(handle, block_bytes)
    try:
        first = blocks.results(max_results=1, keep_blank=True)
    except FileFormatError as exc:
        handle.close()
        raise FileFormatError(f"CSV header unreadable: {exc}") from exc
    if not first:
        handle.close()
        return [], iter(())
    cells = first[0][1]
    if cells[:1] == [CSV_ERROR]:
        handle.close()
        raise FileFormatError(f"CSV header unreadable: {cells[1]}")
    header = [cell.lstrip("\ufeff").strip() for cell in cells]

    def batches() -> Iterator[list[tuple[int, list[str]]]]:
        try:
            while got := blocks.results():
                yield got
        finally:
            handle.close()

    return header, batches()


class _CsvBlocks:
    """Feeds a binary stream to ``_fastpath.csv_records`` a block at a time, keeping the tail
    of a record that a block cut in two for the next call."""

    def __init__(self, handle: BinaryIO, block_bytes: int) -> None:
        self.handle = handle
        self.block_bytes = block_bytes
        self.buffer = b""
        self.pos = 0
        self.line_num = 0
        self.final = False

    def results(self, max_results: int = -1, keep_blank: bool = False) -> list[tuple[int, list[str]]]:
        """The next records (at least one unless the stream has ended); raises
        :class:`FileFormatError` when the stream cannot be read on, once the records it
        holds whole are returned."""
        want = self.block_bytes
        while True:
            got, pos, self.line_num = _csv_records(self.buffer, self.pos, self.final, self.line_num,
                                                   CSV_FIELD_LIMIT, max_results, keep_blank, CSV_ERROR)
            progressed = pos > self.pos
            self.pos = pos
            if got or self.final:
                return got
            if not progressed:
                want = max(want, 2 * (len(self.buffer) - self.pos))  # one record longer than a block
            try:
                data = self.handle.read(want)
            except (EOFError, OSError, gzip.BadGzipFile) as exc:
                raise FileFormatError(f"file unreadable after line {self.line_num}: {exc}") from exc
            self.buffer = self.buffer[self.pos:] + data
            self.pos = 0
            self.final = not data


def iter_csv_module(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """:func:`iter_csv` by the csv module: the reader when the compiled one is not built, and
    the reference it is tested against."""
    handle = io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(handle, strict=False)
    try:
        header = next(reader, None)
    except (EOFError, OSError, gzip.BadGzipFile, csv.Error) as exc:
        handle.close()
        raise FileFormatError(f"CSV header unreadable: {exc}") from exc
    if header is None:
        handle.close()
        return [], iter(())
    header = [cell.lstrip("\ufeff").strip() for cell in header]

    def records() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # A malformed record (e.g. a NUL byte) is rejected, the file goes on.
                    yield start, [CSV_ERROR, str(exc)]
                    start = reader.line_num + 1
                    continue
                if row and "".join(row).strip():
                    yield start, row
                start = reader.line_num + 1
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"file unreadable after line {reader.line_num}: {exc}") from exc
        finally:
            handle.close()

    return header, records()
