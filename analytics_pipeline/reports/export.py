"""On-demand exports: the dashboard's figures as a CSV, JSON or XLSX file, now.

Five kinds, each computed from the statistics and events the same way as the warmed dashboard
entries (``cache/entries.py``), over a range you choose:

- ``user-growth``: one row per month and scope (every website, and ``all``): unique visitors,
  sessions, pageviews, custom events and the month-over-month visitor growth (``--months``, default 12);
- ``activity-trends``: one row per day and scope (``--days``, default 30);
- ``top-items``: the top pages, referrers and custom events per scope over the range, ranked
  (``--limit``, default 10; range ``--days``, default 30);
- ``recent-activity``: the latest events before the end of the range (``--limit``, default 20);
- ``comprehensive``: a summary row, then all of the above, each row tagged with its ``section``.

``--from``/``--to`` (inclusive dates) replace ``--months``/``--days``. Files are written to
``$ANALYTICS_REPORTS_DIR/exports/`` as ``{kind}_{from}_{to}_{timestamp}.{csv|json|xlsx}``, gzipped
with ``gzip=True``. Text from events is made safe the same way as in reports.
"""

from __future__ import annotations

import gzip as gzip_module
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from analytics_pipeline.cache import entries as E
from analytics_pipeline.reports.data import REPORT_VERSION
from analytics_pipeline.reports.generate import CONTENT_TYPES, write_atomically
from analytics_pipeline.reports.render_csv import flatten, to_csv, union_header
from analytics_pipeline.reports.render_xlsx import set_cell
from analytics_pipeline.warehouse import Warehouse

KINDS = ("user-growth", "activity-trends", "top-items", "recent-activity", "comprehensive")
FORMATS = ("csv", "json", "xlsx")
DEFAULTS = {"months": 12, "days": 30, "top_limit": 10, "recent_limit": 20}
MAX_DAYS = 3660


class ExportError(ValueError):
    """An export request that cannot be served (bad kind, format or range), with the reason."""


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    format: str = "csv"
    start: date | None = None  # --from
    end: date | None = None  # --to (inclusive)
    months: int | None = None
    days: int | None = None
    limit: int | None = None
    include_metadata: bool = True
    gzip: bool = False

    def validate(self, today: date) -> None:
        if self.kind not in KINDS:
            raise ExportError(f"unknown export {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.format not in FORMATS:
            raise ExportError(f"invalid format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if (self.start is None) != (self.end is None):
            raise ExportError("give both --from and --to, or neither")
        if self.start is not None and (self.months is not None or self.days is not None):
            raise ExportError("--from/--to replace --months/--days: give one or the other")
        if self.start is not None:
            if self.start > self.end:
                raise ExportError(f"invalid date range: --from {self.start} is after --to {self.end}")
            if self.end >= today:
                raise ExportError(f"invalid date range: --to {self.end} is not a complete day yet (today is {today})")
            if (self.end - self.start).days >= MAX_DAYS:
                raise ExportError(f"invalid date range: more than {MAX_DAYS} days")
        for name in ("months", "days", "limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExportError(f"--{name} must be at least 1, got {value}")
        if self.months is not None and self.months > 120:
            raise ExportError("--months must be at most 120")
        if self.days is not None and self.days > MAX_DAYS:
            raise ExportError(f"--days must be at most {MAX_DAYS}")
        if self.limit is not None and self.limit > 1000:
            raise ExportError("--limit must be at most 1000")

    def span(self, today: date) -> tuple[date, date]:
        """The inclusive days exported: --from/--to, or the last full --days/--months before today."""
        if self.start is not None:
            return self.start, self.end
        last = today - timedelta(days=1)
        if self.kind == "user-growth" and self.days is None:
            months = E.last_full_months(_at(today), self.months or DEFAULTS["months"])
            return months[0], today.replace(day=1) - timedelta(days=1)
        return last - timedelta(days=(self.days or DEFAULTS["days"]) - 1), last


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (the fields a caller gets back)."""

    filename: str
    path: Path
    content_type: str
    size: int
    timestamp: datetime
    records: int

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "path": str(self.path), "contentType": self.content_type,
                "size": self.size, "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "records": self.records}


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _user_growth(wh: Warehouse, first: date, last: date) -> list[dict[str, Any]]:
    months = _months_between(first, last)
    # the entries cover the full months before "now": put now on the 1st after the last month
    now = _at(E.add_months(last.replace(day=1), 1))
    computed = E.user_growth_entries(wh, now, windows=(months,))
    rows = []
    for entry in computed.entries.values():
        rows += [{"scope": entry["scope"], **point} for point in entry["series"]
                 if first.replace(day=1).isoformat() <= point["month"]]
    return rows


def _activity(wh: Warehouse, first: date, last: date) -> list[dict[str, Any]]:
    computed = E.activity_trends_entries(wh, _at(last + timedelta(days=1)), windows=((last - first).days + 1,))
    return [{"scope": e["scope"], **point} for e in computed.entries.values() for point in e["series"]]


def _top(wh: Warehouse, first: date, last: date, limit: int) -> list[dict[str, Any]]:
    computed = E.top_items_entries(wh, _at(last + timedelta(days=1)), limits=(limit,), days=(last - first).days + 1)
    rows = []
    for entry in computed.entries.values():
        for dimension in ("pages", "referrers", "customEvents"):
            rows += [{"scope": entry["scope"], "list": dimension, "rank": rank, "item": r["item"], "count": r["count"]}
                     for rank, r in enumerate(entry[dimension], start=1)]
    return rows


def _recent(wh: Warehouse, last: date, limit: int) -> list[dict[str, Any]]:
    computed = E.recent_activity_entries(wh, _at(last + timedelta(days=1)), limits=(limit,))
    entry = computed.entries[E.recent_activity_key(E.ALL, limit)]
    return list(entry["events"])


def export_records(wh: Warehouse, request: ExportRequest, today: date) -> tuple[list[dict[str, Any]], date, date]:
    first, last = request.span(today)
    top_limit = request.limit or DEFAULTS["top_limit"]
    recent_limit = request.limit or DEFAULTS["recent_limit"]
    if request.kind == "user-growth":
        return _user_growth(wh, first, last), first, last
    if request.kind == "activity-trends":
        return _activity(wh, first, last), first, last
    if request.kind == "top-items":
        return _top(wh, first, last, top_limit), first, last
    if request.kind == "recent-activity":
        return _recent(wh, last, recent_limit), first, last
    summary = E.summary_value(wh, first, last + timedelta(days=1))
    rows: list[dict[str, Any]] = [{"section": "summary", "from": first.isoformat(), "to": last.isoformat(), **summary}]
    rows += [{"section": "user-growth", **r} for r in _user_growth(wh, first, last)]
    rows += [{"section": "activity-trends", **r} for r in _activity(wh, first, last)]
    rows += [{"section": "top-items", **r} for r in _top(wh, first, last, top_limit)]
    rows += [{"section": "recent-activity", **r} for r in _recent(wh, last, recent_limit)]
    return rows, first, last


def _xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    flat = [flatten(r) for r in rows]
    header = union_header(flat) or ["(no rows)"]
    for c, name in enumerate(header, start=1):
        cell = set_cell(ws, 1, c, name)
        cell.font, cell.fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="1F4E78")
    for r, row in enumerate(flat, start=2):
        for c, name in enumerate(header, start=1):
            value = row.get(name)
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            set_cell(ws, r, c, value, "#,##0" if isinstance(value, int) else None)
    ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def render_export(rows: list[dict[str, Any]], request: ExportRequest, first: date, last: date,
                  generated_at: datetime) -> bytes:
    if request.format == "csv":
        return to_csv(rows).encode("utf-8")
    if request.format == "xlsx":
        return _xlsx(rows, request.kind)
    document: Any = rows
    if request.include_metadata:
        document = {"metadata": {"generatedAt": generated_at.isoformat().replace("+00:00", "Z"),
                                 "totalRecords": len(rows), "exportFormat": "JSON", "version": REPORT_VERSION,
                                 "dateRange": {"start": first.isoformat(), "end": last.isoformat()},
                                 "export": request.kind},
                    "data": rows}
    return (json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def run_export(wh: Warehouse, request: ExportRequest, out_dir: Path, *, now: datetime | None = None) -> ExportResult:
    """Validate, compute, render and write one export; raises :class:`ExportError` for a bad request."""
    now = now or datetime.now(timezone.utc)
    request.validate(now.date())
    rows, first, last = export_records(wh, request, now.date())
    content = render_export(rows, request, first, last, now)
    content_type = CONTENT_TYPES[request.format]
    filename = f"{request.kind}_{first}_{last}_{now:%Y%m%dT%H%M%SZ}.{request.format}"
    if request.gzip:
        content = gzip_module.compress(content, mtime=0)
        filename += ".gz"
        content_type = "application/gzip"
    path = Path(out_dir) / filename
    write_atomically(path, content)
    return ExportResult(filename, path, content_type, len(content), now, len(rows))
