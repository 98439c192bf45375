"""XLSX export (openpyxl): a cover sheet, then one sheet per section with a styled, frozen,
filterable header row, number / percentage / date formats and fitted column widths, and native
Excel charts (websites against the previous period; the trend over time)."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from analytics_pipeline.reports.data import ReportData
from analytics_pipeline.reports.render_csv import flatten, union_header

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
DATE_COLUMNS = {"date", "month", "period.start", "period.end"}
INT_FORMAT = "#,##0"
FLOAT_FORMAT = "#,##0.0"
RATE_FORMAT = "0.0%"
CHANGE_FORMAT = '+0.0"%";-0.0"%";0.0"%"'


def _number_format(column: str, row: dict[str, Any], value: Any) -> str | None:
    if column in DATE_COLUMNS:
        return "yyyy-mm-dd"
    if column.endswith("change_pct"):
        return CHANGE_FORMAT
    if "bounce_rate" in column or (column in ("value", "previous", "change")
                                   and str(row.get("metric", "")).startswith("bounce_rate")):
        return RATE_FORMAT
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return INT_FORMAT
    if isinstance(value, float):
        return FLOAT_FORMAT
    return None


def _cell_value(column: str, value: Any) -> Any:
    if column in DATE_COLUMNS and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def _write_table(ws: Worksheet, rows: list[dict[str, Any]]) -> list[str]:
    flat = [flatten(r) for r in rows]
    header = union_header(flat) or ["(no rows)"]
    ws.append(header)
    for col, _name in enumerate(header, start=1):
        cell = ws.cell(row=1, column=col)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
    widths = [len(h) for h in header]
    for r, row in enumerate(flat, start=2):
        for c, column in enumerate(header, start=1):
            value = row.get(column)
            cell = ws.cell(row=r, column=c, value=_cell_value(column, value))
            fmt = _number_format(column, row, value)
            if fmt and value is not None:
                cell.number_format = fmt
            widths[c - 1] = max(widths[c - 1], len(str(value)) if value is not None else 0)
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    if flat:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(flat) + 1}"
    return header


def _overview_chart(ws: Worksheet, header: list[str], rows: int, data: ReportData) -> None:
    """Clustered bars: the first metric per website, this period against the previous one."""
    metric_columns = [h for h in header if h.endswith(".value")]
    if not rows or not metric_columns:
        return
    value_col = header.index(metric_columns[0]) + 1
    previous_col = header.index(metric_columns[0].replace(".value", ".previous")) + 1
    chart = BarChart()
    chart.type = "col"
    chart.title = f"{metric_columns[0].removesuffix('.value')}: {data.period.label} vs {data.previous.label}"
    chart.y_axis.title = metric_columns[0].removesuffix(".value")
    chart.x_axis.title = "website"
    for col, title in ((value_col, data.period.label), (previous_col, data.previous.label)):
        chart.add_data(Reference(ws, min_col=col, min_row=1, max_row=rows + 1), titles_from_data=True)
        chart.series[-1].tx = SeriesLabel(v=title)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=rows + 1))
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, f"{get_column_letter(len(header) + 2)}2")


def _trend_chart(ws: Worksheet, header: list[str], rows: list[dict[str, Any]], data: ReportData) -> None:
    """A pivot (period x website) of pageviews beside the table, drawn as a line per website."""
    if not rows:
        return
    period_key = "month" if "month" in rows[0] else "date"
    periods = sorted({r[period_key] for r in rows})
    websites = sorted({r["website_id"] for r in rows})
    values = {(r[period_key], r["website_id"]): r["total_pageviews"] for r in rows}
    first_col = len(header) + 2
    ws.cell(row=1, column=first_col, value=period_key).font = Font(bold=True)
    for j, website in enumerate(websites, start=1):
        ws.cell(row=1, column=first_col + j, value=website).font = Font(bold=True)
    for i, period in enumerate(periods, start=2):
        ws.cell(row=i, column=first_col, value=date.fromisoformat(period)).number_format = "yyyy-mm-dd"
        for j, website in enumerate(websites, start=1):
            ws.cell(row=i, column=first_col + j, value=values.get((period, website), 0)).number_format = INT_FORMAT
    ws.column_dimensions[get_column_letter(first_col)].width = 12
    chart = LineChart()
    chart.title = f"Pageviews per {period_key}"
    chart.y_axis.title = "pageviews"
    chart.x_axis.number_format = "yyyy-mm-dd"
    chart.add_data(Reference(ws, min_col=first_col + 1, max_col=first_col + len(websites), min_row=1,
                             max_row=len(periods) + 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=first_col, min_row=2, max_row=len(periods) + 1))
    chart.height, chart.width = 8, 18
    ws.add_chart(chart, f"{get_column_letter(first_col + len(websites) + 2)}2")


def render_xlsx(data: ReportData) -> bytes:
    wb = Workbook()
    cover = wb.active
    cover.title = "Report"
    cover["A1"] = data.text("title")
    cover["A1"].font = Font(bold=True, size=14)
    facts = [("Template", data.template.id), ("Period", data.period.label),
             ("From", data.period.start), ("To", data.period.last_day),
             ("Compared with", data.previous.label), ("Websites", ", ".join(data.websites) or "none"),
             ("Generated at (UTC)", data.generated_at.strftime("%Y-%m-%d %H:%M:%S")),
             ("Source tables", ", ".join(data.source_tables)), ("Summary", data.text("summary"))]
    for i, (label, value) in enumerate(facts, start=3):
        cover.cell(row=i, column=1, value=label).font = Font(bold=True)
        cell = cover.cell(row=i, column=2, value=value)
        if isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    cover.column_dimensions["A"].width = 20
    cover.column_dimensions["B"].width = 90
    for section in data.sections:
        ws = wb.create_sheet(section.title[:31])
        header = _write_table(ws, section.rows)
        if section.name == "overview":
            _overview_chart(ws, header, len(section.rows), data)
        elif section.name == "trend":
            _trend_chart(ws, header, section.rows, data)
    if data.section("overview") is None and data.section("trend") is None and data.section("summary"):
        ws = wb[data.section("summary").title]
        chart = BarChart()
        chart.title = "This period vs previous"
        n = len(data.section("summary").rows)
        chart.add_data(Reference(ws, min_col=3, max_col=4, min_row=1, max_row=n + 1), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
        ws.add_chart(chart, "H2")
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
