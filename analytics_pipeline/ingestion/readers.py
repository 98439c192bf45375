"""Stream the records of one landing file, whatever its format, with memory flat in file size.

A record is ``(line_number, payload)``: for JSON lines the payload is the raw line (bytes); for
CSV it is the list of cells of one CSV record (which may span several physical lines), and
``line_number`` is the physical line the record starts on. Blank lines are skipped here.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

EVENT_SUFFIXES = (".jsonl", ".ndjson", ".csv")
# First cell of a record the csv module could not parse; the second cell says why.
CSV_ERROR = "\x00csv-error"
# The csv module refuses cells over 128 KiB; such a record is still a record, rejected by the
# rules (properties over 16 KiB) with its raw line, not lost to a parser limit.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(CSV_FIELD_LIMIT)
_CSV_BLOCK_BYTES = 1 << 20

try:  # the compiled reader (_fastpath.csv_records), built by ``pip install -e .``
    from analytics_pipeline.ingestion._fastpath import csv_records as _csv_records
except ImportError:  # a source tree nobody built: the csv module reads the same records
    _csv_records = None


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
_OPEN_BRACE = ord("{")


def iter_jsonl_blocks(path: Path, chunk_lines: int, skip_through: int = 0,
                      first_chunk_lines: int | None = None) -> Iterator[tuple[int, bytes]]:
    """The file as ``(first_line_number, data)`` blocks of whole lines, each holding the lines
    that :func:`iter_jsonl` would yield as ``chunk_lines`` consecutive records (when
    ``first_chunk_lines`` is given, the first block that many, each next one twice the one
    before until ``chunk_lines``; blank lines between them included, lines up to
    ``skip_through`` left out). The lines are split later, in a worker
    (:func:`lines_of_block`): this process only looks for line ends.
    Uncompressed files only: a ``.gz`` file goes through :func:`iter_jsonl`."""
    size_of_block = first_chunk_lines or chunk_lines
    with open(path, "rb", buffering=0) as handle:
        buffer = b""
        start = 0  # offset in buffer where the current block starts
        pos = 0  # offset in buffer of the next line
        first = 0  # number of the current block's first line
        records = 0  # records in the current block
        line_number = 0
        while True:
            try:
                data = handle.read(_BLOCK_BYTES)
            except OSError as exc:
                raise FileFormatError(f"file unreadable after line {line_number}: {exc}") from exc
            if data:
                buffer = buffer[start:] + data if start < len(buffer) else data
                pos -= start
                start = 0
            size = len(buffer)
            find = buffer.find
            while pos < size:
                end = find(b"\n", pos)
                if end < 0:
                    if data:
                        break  # an incomplete line: read on
                    end = size - 1  # the last line has no newline
                line_number += 1
                if line_number <= skip_through:
                    start = end + 1
                elif buffer[pos] == _OPEN_BRACE or buffer[pos:end + 1].strip():
                    if records == 0:
                        first, start = line_number, pos
                    records += 1
                    if records == size_of_block:
                        yield first, buffer[start:end + 1]
                        size_of_block = min(chunk_lines, size_of_block * 2)
                        records = 0
                        start = end + 1
                elif records == 0:
                    start = end + 1
                pos = end + 1
            if not data:
                if records:
                    yield first, buffer[start:pos]
                return


def lines_of_block(first_line: int, data: bytes) -> list[tuple[int, bytes]]:
    """The ``(line_number, line)`` records of a block from :func:`iter_jsonl_blocks`, exactly
    as :func:`iter_jsonl` yields them."""
    return [(n, line) for n, line in enumerate(io.BytesIO(data), first_line) if line.strip()]


def iter_csv(path: Path, block_bytes: int = _CSV_BLOCK_BYTES) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of records. Cells are decoded with ``surrogateescape`` so a
    record with invalid UTF-8 can be rejected as such instead of being silently altered.

    The compiled reader (``_fastpath.csv_records``) reads the same records as
    :func:`iter_csv_module` (the csv module's), in blocks of ``block_bytes``, at about a fifth
    of its CPU; the one difference is that its field limit counts bytes, not characters."""
    if _csv_records is None:
        return iter_csv_module(path)
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

    def records() -> Iterator[tuple[int, list[str]]]:
        try:
            while True:
                got = blocks.results()
                if not got:
                    return
                yield from got
        finally:
            handle.close()

    return header, records()


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
