"""Turn a chunk of raw records into load-ready rows and rejections (runs in worker processes).

Pure CPU work with no database: it is what runs on the second core beside the loader. The
output is a :class:`PreparedChunk`: for PostgreSQL the accepted rows are already encoded as a
COPY text stream, for SQLite they are tuples for ``executemany``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from analytics_pipeline.ingestion.validate import EventRow, redact_raw, validate_event

Rejection = tuple[int, str, str]  # line_number, raw, reason

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class PreparedChunk:
    first_line: int
    last_line: int
    lines: int
    accepted: int = 0
    rows: list[EventRow] = field(default_factory=list)  # sqlite
    copy_data: bytes = b""  # postgresql: COPY text, line_number first
    rejections: list[Rejection] = field(default_factory=list)
    days: set[str] = field(default_factory=set)  # UTC days of accepted rows (partitions to ensure)


def _copy_field(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _csv_raw(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _csv_object(header: list[str], cells: list[str]) -> dict[str, Any] | str:
    if cells and cells[0] == "\x00csv-error":
        return f"malformed CSV record: {cells[1]}"
    if len(cells) != len(header):
        return f"CSV record has {len(cells)} fields, the header has {len(header)}"
    try:
        for cell in cells:
            cell.encode("utf-8")
    except UnicodeEncodeError:
        return "line is not valid UTF-8"
    obj: dict[str, Any] = {}
    for name, cell in zip(header, cells):
        obj[name] = cell if cell != "" else None
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
) -> PreparedChunk:
    """Validate ``records`` (see :mod:`readers`) as of ``now``."""
    chunk = PreparedChunk(first_line=records[0][0], last_line=records[-1][0], lines=len(records))
    rows = chunk.rows
    rejections = chunk.rejections
    copy_lines: list[str] = []
    for line_number, payload in records:
        if kind == "jsonl":
            try:
                obj: Any = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raw = payload.decode("utf-8", "replace").rstrip("\r\n")
                reason = "line is not valid UTF-8" if "utf-8" in str(exc).lower() else f"invalid JSON: {exc}"
                rejections.append((line_number, redact_raw(raw), reason))
                continue
        else:
            obj = _csv_object(header or [], payload)
            if isinstance(obj, str):
                rejections.append((line_number, redact_raw(_csv_raw(payload)), obj))
                continue
        result = validate_event(obj, now)
        if isinstance(result, str):
            raw = payload.decode("utf-8", "replace").rstrip("\r\n") if kind == "jsonl" else _csv_raw(payload)
            rejections.append((line_number, redact_raw(raw), result))
            continue
        chunk.days.add(result[8][:10])
        if dialect == "postgresql":
            copy_lines.append(str(line_number) + "\t" + "\t".join(map(_copy_field, result)))
        else:
            rows.append(result)
    chunk.accepted = chunk.lines - len(rejections)
    if copy_lines:
        chunk.copy_data = ("\n".join(copy_lines) + "\n").encode("utf-8")
    return chunk
