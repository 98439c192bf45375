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


def iter_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of records. Cells are decoded with ``surrogateescape`` so a
    record with invalid UTF-8 can be rejected as such instead of being silently altered."""
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
    header = [cell.strip().lstrip("\ufeff") for cell in header]

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
                    yield start, ["\x00csv-error", str(exc)]
                    start = reader.line_num + 1
                    continue
                if row and any(cell.strip() for cell in row):
                    yield start, row
                start = reader.line_num + 1
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"file unreadable after line {reader.line_num}: {exc}") from exc
        finally:
            handle.close()

    return header, records()
