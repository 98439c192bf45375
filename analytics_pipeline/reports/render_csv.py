"""CSV export: the header is the union of every row's keys in first-seen order, nested objects
are flattened to dot keys, and values are quoted per RFC 4180 (CRLF line ends; fields holding
commas, quotes or line breaks are quoted, quotes doubled). Text that a spreadsheet would
evaluate as a formula is written so that it stays text (``reports/cells.py``).

A report's rows are one tidy long table (``ReportData.records``), so its header is always the
same thirteen columns; see docs/reports.md."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from analytics_pipeline.reports.cells import spreadsheet_text
from analytics_pipeline.reports.data import ReportData


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, recursively; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            nested = flatten(value, f"{name}.")
            if nested:
                out.update(nested)
            else:
                out[name] = None
        else:
            out[name] = value
    return out


def union_header(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of every row, in the order they first appear."""
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    return list(header)


def cell(value: Any) -> str:
    """One CSV field: empty for null, lower-case booleans, JSON for lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return spreadsheet_text(json.dumps(value, ensure_ascii=False, default=str))
    if isinstance(value, str):
        return spreadsheet_text(value)
    return str(value)


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows of (possibly nested, possibly ragged) dicts as RFC 4180 CSV text."""
    flat = [flatten(r) for r in rows]
    header = union_header(flat)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(header)
    for row in flat:
        writer.writerow([cell(row.get(k)) for k in header])
    return buffer.getvalue()


def render_csv(data: ReportData) -> bytes:
    """The report's tidy records (one row per section, website, item and metric) as UTF-8 CSV."""
    return to_csv(data.records()).encode("utf-8")
