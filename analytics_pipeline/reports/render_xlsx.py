"""XLSX export (openpyxl): a cover sheet (with the period's status), then one sheet per section
with a styled, frozen, filterable header row, number / percentage / date formats and fitted
column widths, and native Excel charts (websites against the previous period; the trend).

Values and formats agree: a rate (bounce rate) is stored as a fraction under ``0.0%`` (0.412
shows 41.2%), a relative change as a fraction under ``+0.0%``, a change in percentage points as
points under ``+0.0" pp"``. Text from events is stored as text, never as a formula, and control
characters that XLSX cannot hold are shown as escapes (``reports/cells.py``)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.marker import Marker
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from analytics_pipeline.reports.cells import is_formula_like, visible_controls
from analytics_pipeline.reports.data import (
    LABELS, RATES, TREND_METRICS, ReportData, change_unit, metric_key, metric_label,
)

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
STATUS_FONT = Font(bold=True, color="9C0006")
STATUS_FILL = PatternFill("solid", fgColor="FFEB9C")
DATE_FORMAT = "yyyy-mm-dd"
INT_FORMAT = "#,##0"
FLOAT_FORMAT = "#,##0.0"
RATE_FORMAT = "0.0%"
PCT_CHANGE_FORMAT = "+0.0%;-0.0%;0.0%"
PP_CHANGE_FORMAT = '+0.0" pp";-0.0" pp";0.0" pp"'


def set_cell(ws: Worksheet, row: int, column: int, value: Any, number_format: str | None = None):
    """Write one cell: text as text (never a formula, controls escaped), numbers with ``number_format``."""
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = visible_controls(value)
        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
        if is_formula_like(value):
            cell.quotePrefix = True
    else:
        cell.value = value
        if number_format and value is not None and not isinstance(value, bool):
            cell.number_format = number_format
    return cell


def metric_format(metric: str) -> str:
    if metric in RATES:
        return RATE_FORMAT
    return FLOAT_FORMAT if metric.endswith(("_seconds", "_avg")) else INT_FORMAT


def change_cell(metric: str, change: float | None) -> tuple[float | None, str]:
    """A change figure as XLSX stores it: percent as a fraction under a % format, points as points."""
    if change_unit(metric) == "pp":
        return change, PP_CHANGE_FORMAT
    return (None if change is None else round(change / 100, 4)), PCT_CHANGE_FORMAT


def _write_table(ws: Worksheet, header: list[str], rows: list[list[tuple[Any, str | None]]]) -> None:
    """``rows`` of ``(value, number_format)`` under a styled header."""
    for c, name in enumerate(header, start=1):
        cell = set_cell(ws, 1, c, name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    widths = [len(h) for h in header]
    for r, row in enumerate(rows, start=2):
        for c, (value, fmt) in enumerate(row, start=1):
            set_cell(ws, r, c, value, fmt)
            widths[c - 1] = max(widths[c - 1], len(str(value)) if value is not None else 0)
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"


def _summary(ws: Worksheet, data: ReportData) -> None:
    grain = data.period.grain
    rows = []
    for k in data.kpis:
        fmt = metric_format(metric_key(k.metric, grain))
        change, change_fmt = change_cell(k.metric, k.change)
        rows.append([(metric_key(k.metric, grain), None), (k.label, None), (k.value, fmt), (k.previous, fmt),
                     (change, change_fmt), ("points" if k.change_unit == "pp" else "percent", None)])
    _write_table(ws, ["metric", "label", data.period.label, data.previous.label, "change", "change measured in"], rows)


def _overview(ws: Worksheet, data: ReportData) -> None:
    grain = data.period.grain
    section = data.section("overview")
    header = ["website"]
    for m in data.template.metrics:
        label = metric_label(m, grain)
        header += [label, f"{label} previous", f"{label} change ({'pp' if change_unit(m) == 'pp' else '%'})"]
    rows = []
    for r in section.rows:
        row: list[tuple[Any, str | None]] = [(r["website_id"], None)]
        for m in data.template.metrics:
            cell = r[metric_key(m, grain)]
            fmt = metric_format(metric_key(m, grain))
            row += [(cell["value"], fmt), (cell["previous"], fmt), change_cell(m, cell["change"])]
        rows.append(row)
    _write_table(ws, header, rows)
    if not rows or not data.template.metrics:
        return
    metric = data.template.metrics[0]
    chart = BarChart()
    chart.type = "col"
    chart.title = f"{metric_label(metric, grain)}: {data.period.label}"
    chart.y_axis.title = LABELS[metric].lower()
    chart.x_axis.title = "website"
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=len(rows) + 1), titles_from_data=True)
    chart.series[-1].tx = SeriesLabel(v=data.period.label)
    # A previous period with no figures gets no series (and so no legend entry without bars).
    if any(r[metric_key(metric, grain)]["previous"] for r in section.rows):
        chart.title = f"{metric_label(metric, grain)}: {data.period.label} vs {data.previous.label}"
        chart.add_data(Reference(ws, min_col=3, min_row=1, max_row=len(rows) + 1), titles_from_data=True)
        chart.series[-1].tx = SeriesLabel(v=data.previous.label)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=len(rows) + 1))
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, f"{get_column_letter(len(header) + 2)}2")


def _top(ws: Worksheet, data: ReportData, name: str) -> None:
    rows = data.section(name).rows
    if name == "events_by_type":
        header = ["website", "event", "events", "previous", "change (%)"]
        body = [[(r["website_id"], None), (r["event_type"], None), (r["count"], INT_FORMAT),
                 (r["previous_count"], INT_FORMAT), change_cell("count", r["change"])] for r in rows]
    else:
        header = ["website", "#", "page" if name == "top_pages" else "referrer", "pageviews", "previous", "change (%)"]
        body = [[(r["website_id"], None), (r["rank"], INT_FORMAT), (r["item"], None), (r["count"], INT_FORMAT),
                 (r["previous_count"], INT_FORMAT), change_cell("count", r["change"])] for r in rows]
    _write_table(ws, header, body)


def _trend(ws: Worksheet, data: ReportData) -> None:
    rows = data.section("trend").rows
    period_key = "month" if rows and "month" in rows[0] else "date"
    header = [period_key, "website"] + [LABELS[m].lower() for m in TREND_METRICS]
    body = [[(date.fromisoformat(r[period_key]), DATE_FORMAT), (r["website_id"], None)]
            + [(r[m], INT_FORMAT) for m in TREND_METRICS] for r in rows]
    _write_table(ws, header, body)
    if not rows:
        return
    # A pivot (period x website) of pageviews beside the table, drawn as a line per website with
    # markers, so a single period still shows a point.
    periods = sorted({r[period_key] for r in rows})
    websites = sorted({r["website_id"] for r in rows})
    values = {(r[period_key], r["website_id"]): r["total_pageviews"] for r in rows}
    first_col = len(header) + 2
    set_cell(ws, 1, first_col, period_key).font = Font(bold=True)
    for j, website in enumerate(websites, start=1):
        set_cell(ws, 1, first_col + j, website).font = Font(bold=True)
    for i, period in enumerate(periods, start=2):
        set_cell(ws, i, first_col, date.fromisoformat(period), DATE_FORMAT)
        for j, website in enumerate(websites, start=1):
            set_cell(ws, i, first_col + j, values.get((period, website), 0), INT_FORMAT)
    ws.column_dimensions[get_column_letter(first_col)].width = 12
    chart = LineChart()
    chart.title = f"Pageviews per {'month' if period_key == 'month' else 'day'}"
    chart.y_axis.title = "pageviews"
    chart.x_axis.number_format = DATE_FORMAT
    chart.add_data(Reference(ws, min_col=first_col + 1, max_col=first_col + len(websites), min_row=1,
                             max_row=len(periods) + 1), titles_from_data=True)
    for series in chart.series:
        series.marker = Marker(symbol="circle", size=6)
    chart.set_categories(Reference(ws, min_col=first_col, min_row=2, max_row=len(periods) + 1))
    chart.height, chart.width = 8, 18
    ws.add_chart(chart, f"{get_column_letter(first_col + len(websites) + 2)}2")


def render_xlsx(data: ReportData) -> bytes:
    wb = Workbook()
    cover = wb.active
    cover.title = "Report"
    set_cell(cover, 1, 1, data.text("title")).font = Font(bold=True, size=14)
    facts = [("Template", data.template.id), ("Period", data.period.label), ("Status", data.status),
             ("From", data.period.start), ("To", data.period.last_day),
             ("Compared with", data.previous.label), ("Websites", ", ".join(data.websites) or "none"),
             ("Generated at (UTC)", data.generated_at.strftime("%Y-%m-%d %H:%M:%S")),
             ("Source tables", ", ".join(data.source_tables)), ("Summary", data.text("summary"))]
    if data.status_note:
        facts.insert(3, ("Note", data.status_note))
    for i, (label, value) in enumerate(facts, start=3):
        set_cell(cover, i, 1, label).font = Font(bold=True)
        cell = set_cell(cover, i, 2, value, DATE_FORMAT if isinstance(value, date) else None)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if label in ("Status", "Note") and data.status_note:
            cell.font, cell.fill = STATUS_FONT, STATUS_FILL
    cover.column_dimensions["A"].width = 20
    cover.column_dimensions["B"].width = 90
    for section in data.sections:
        ws = wb.create_sheet(section.title[:31])
        if section.name == "summary":
            _summary(ws, data)
        elif section.name == "overview":
            _overview(ws, data)
        elif section.name == "trend":
            _trend(ws, data)
        else:
            _top(ws, data, section.name)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
