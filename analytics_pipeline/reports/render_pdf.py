"""PDF export (reportlab, A4 portrait): title, period (and a banner when the period is still in
progress or its data is incomplete), summary text, a KPI block against the previous period,
charts (websites this period vs the previous one; the trend over time, a point per period so one
period still shows) and the section tables, with header rows repeated across pages.

Header cells are Paragraphs, which ignore a table's TEXTCOLOR: their own style makes them white
on the dark header. Text from events is escaped for reportlab's markup and its control
characters shown as escapes (``reports/cells.py``)."""

from __future__ import annotations

import io
import re
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from analytics_pipeline.reports.cells import visible_controls
from analytics_pipeline.reports.data import ReportData, change_text, display_value, metric_key

PALETTE = [colors.HexColor(c) for c in ("#1F4E78", "#9DC3E6", "#C55A11", "#70AD47", "#7030A0", "#FFC000")]
WIDTH = A4[0] - 30 * mm
STYLES = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=STYLES["BodyText"], fontSize=8, leading=10)
HEADER_BACKGROUND = colors.HexColor("#1F4E78")
HEADER_TEXT = colors.white
HEADER = ParagraphStyle("table_header", parent=SMALL, textColor=HEADER_TEXT, fontName="Helvetica-Bold")
BANNER = ParagraphStyle("banner", parent=STYLES["BodyText"], textColor=colors.HexColor("#9C0006"),
                        backColor=colors.HexColor("#FFEB9C"), borderPadding=4, fontName="Helvetica-Bold")
TABLE_STYLE = TableStyle([
    ("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND),
    ("TEXTCOLOR", (0, 0), (-1, 0), HEADER_TEXT),
    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
    ("FONTSIZE", (0, 0), (-1, -1), 8),
    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#EEF3F8")]),
    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#B0B7C0")),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
])


def text(value: str) -> str:
    """Any text as reportlab Paragraph markup: controls made visible, markup characters escaped."""
    return escape(visible_controls(str(value), pdf=True))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    return visible_controls(str(value), pdf=True)


def _change(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f} pp" if unit == "pp" else f"{value:+.1f}%"


NUMERIC = re.compile(r"^(-|n/a|[-+]?[\d,.]+( s|%| pp)?( \(.*\))?)$")


def _table(header: list[str], rows: list[list[Any]], widths: list[float] | None = None) -> Table:
    """A styled table; columns whose every cell is a number are right-aligned. Text cells are
    Paragraphs, so any text wraps inside its column instead of pushing the others off the page."""
    cells = [[Paragraph(text(h), HEADER) for h in header]]
    cells += [[Paragraph(text(c), SMALL) if isinstance(c, str) and not NUMERIC.match(c) else c for c in row]
              for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    for col in range(len(header)):
        if rows and all(isinstance(r[col], str) and NUMERIC.match(r[col]) for r in rows):
            table.setStyle(TableStyle([("ALIGN", (col, 1), (col, -1), "RIGHT")]))
    return table


def _kpi_table(data: ReportData) -> Table:
    rows = [[k.label, k.display, display_value(k.metric, k.previous), k.change_text] for k in data.kpis]
    return _table(["Metric", data.period.label, data.previous.label, "Change"], rows,
                  [WIDTH * 0.4, WIDTH * 0.2, WIDTH * 0.2, WIDTH * 0.2])


def _bar_chart(data: ReportData) -> Drawing | None:
    """The first metric per website: this period against the previous one."""
    overview = data.section("overview")
    if not overview or not overview.rows or not data.template.metrics:
        return None
    metric = data.template.metrics[0]
    key = metric_key(metric, data.period.grain)
    websites = [r["website_id"] for r in overview.rows]
    current = [r[key]["value"] or 0 for r in overview.rows]
    previous = [r[key]["previous"] or 0 for r in overview.rows]
    # A previous period without figures gets no bars, so no legend entry either.
    series = [(current, data.period.label)] + ([(previous, data.previous.label)] if any(previous) else [])
    drawing = Drawing(WIDTH, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 15 * mm, 12 * mm, WIDTH - 60 * mm, 50 * mm
    chart.data = [values for values, _ in series]
    chart.categoryAxis.categoryNames = [visible_controls(w, pdf=True) for w in websites]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    for i in range(len(series)):
        chart.bars[i].fillColor = PALETTE[i]
    drawing.add(chart)
    drawing.add(_legend([(PALETTE[i], label) for i, (_, label) in enumerate(series)]))
    drawing.add(String(15 * mm, 65 * mm, f"{overview.title}: {metric.replace('_', ' ')}", fontSize=9,
                       fontName="Helvetica-Bold"))
    return drawing


LEGEND_ROWS = 12


def _legend(pairs: list[tuple[Any, str]]) -> Legend:
    """The chart's key, to its right, one entry under another. (reportlab's default of three
    rows a column put a fourth website's name beside the first one's colour.) Columns of
    :data:`LEGEND_ROWS` entries start only beyond that many."""
    legend = Legend()
    legend.x, legend.y = WIDTH - 40 * mm, 50 * mm
    legend.fontSize = 7
    legend.deltay = 9
    legend.columnMaximum = LEGEND_ROWS
    legend.colorNamePairs = pairs
    return legend


def _line_chart(data: ReportData) -> Drawing | None:
    """Pageviews per day (per month for quarters), one line per website."""
    trend = data.section("trend")
    if not trend or not trend.rows:
        return None
    period_key = "month" if "month" in trend.rows[0] else "date"
    periods = sorted({r[period_key] for r in trend.rows})
    websites = sorted({r["website_id"] for r in trend.rows})
    values = {(r[period_key], r["website_id"]): r["total_pageviews"] for r in trend.rows}
    drawing = Drawing(WIDTH, 70 * mm)
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 15 * mm, 12 * mm, WIDTH - 60 * mm, 50 * mm
    chart.data = [[values.get((p, w), 0) for p in periods] for w in websites]
    step = max(1, len(periods) // 8)
    chart.categoryAxis.categoryNames = [p[5:] if i % step == 0 else "" for i, p in enumerate(periods)]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    for i in range(len(websites)):
        chart.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
        chart.lines[i].strokeWidth = 1.5
        # A marker on every point: a line needs two points, a single period still shows as a dot.
        chart.lines[i].symbol = makeMarker("FilledCircle", size=4, fillColor=PALETTE[i % len(PALETTE)],
                                           strokeColor=PALETTE[i % len(PALETTE)])
    drawing.add(chart)
    drawing.add(_legend([(PALETTE[i % len(PALETTE)], visible_controls(w, pdf=True)) for i, w in enumerate(websites)]))
    drawing.add(String(15 * mm, 65 * mm, f"Pageviews per {'month' if period_key == 'month' else 'day'}",
                       fontSize=9, fontName="Helvetica-Bold"))
    return drawing


def _overview_tables(data: ReportData) -> list[Table]:
    """Metrics down, websites across (four per table) so the table fits A4 portrait."""
    overview = data.section("overview")
    tables = []
    rows = overview.rows
    for chunk in [rows[i:i + 4] for i in range(0, len(rows), 4)] or [[]]:
        body = []
        for metric in data.template.metrics:
            key = metric_key(metric, data.period.grain)
            body.append([next(k.label for k in data.kpis if k.metric == metric)] + [
                f"{display_value(metric, r[key]['value'])} ({change_text(r[key]['value'], r[key]['previous'], metric)})"
                for r in chunk])
        width = WIDTH * 0.3
        tables.append(_table(["Metric"] + [r["website_id"] for r in chunk], body,
                             [width] + [(WIDTH - width) / max(len(chunk), 1)] * len(chunk)))
    return tables


# Column widths (fractions of the page) of the section tables: fixed, so long text wraps.
SECTION_WIDTHS = {"top_pages": (0.16, 0.06, 0.38, 0.14, 0.14, 0.12), "top_referrers": (0.16, 0.06, 0.38, 0.14, 0.14, 0.12),
                  "events_by_type": (0.18, 0.38, 0.16, 0.16, 0.12), "trend": (0.14, 0.22, 0.16, 0.16, 0.16, 0.16)}
SECTION_COLUMNS = {
    "top_pages": (["website_id", "rank", "item", "count", "previous_count", "change"],
                  ["Website", "#", "Page", "Pageviews", "Previous", "Change"]),
    "top_referrers": (["website_id", "rank", "item", "count", "previous_count", "change"],
                      ["Website", "#", "Referrer", "Pageviews", "Previous", "Change"]),
    "events_by_type": (["website_id", "event_type", "count", "previous_count", "change"],
                       ["Website", "Event", "Count", "Previous", "Change"]),
}


def _section_table(name: str, rows: list[dict[str, Any]]) -> Table:
    if name == "trend":
        period_key = "month" if rows and "month" in rows[0] else "date"
        columns = [period_key, "website_id", "total_pageviews", "unique_visitors", "sessions_started",
                   "total_custom_events"]
        header = [period_key.capitalize(), "Website", "Pageviews", "Visitors", "Sessions", "Custom events"]
    else:
        columns, header = SECTION_COLUMNS[name]
    body = [[_change(r.get(c), r.get("change_unit")) if c == "change" else _fmt(r.get(c)) for c in columns]
            for r in rows]
    return _table(header, body, [WIDTH * f for f in SECTION_WIDTHS[name]])


def render_pdf(data: ReportData) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=visible_controls(data.text("title"), pdf=True),
                            author="analytics_pipeline", subject=visible_controls(data.template.description, pdf=True))
    title = data.text("title") + (f" ({data.status})" if data.status_note else "")
    story: list[Any] = [
        Paragraph(text(title), STYLES["Title"]),
        Paragraph(text(f"Period: {data.period.start} to {data.period.last_day} - compared with "
                       f"{data.previous.start} to {data.previous.last_day}"), STYLES["BodyText"]),
        Paragraph(text(f"Websites: {', '.join(data.websites) or 'none'} - generated "
                       f"{data.generated_at:%Y-%m-%d %H:%M} UTC from {', '.join(data.source_tables)}"), SMALL),
    ]
    if data.status_note:
        story += [Spacer(1, 3 * mm), Paragraph(text(data.status_note), BANNER)]
    story += [
        Spacer(1, 3 * mm),
        Paragraph(text(data.text("summary")), STYLES["BodyText"]),
        Spacer(1, 4 * mm),
        Paragraph("Key figures", STYLES["Heading2"]),
        _kpi_table(data),
    ]
    for drawing in (_bar_chart(data), _line_chart(data)):
        if drawing is not None:
            story += [Spacer(1, 4 * mm), drawing]
    for section in data.sections:
        if section.name == "summary":
            continue
        heading = Paragraph(text(section.title), STYLES["Heading2"])
        if not section.rows:
            story += [heading, Paragraph("No data for this period.", SMALL)]
            continue
        tables = _overview_tables(data) if section.name == "overview" else [_section_table(section.name, section.rows)]
        story += [KeepTogether([heading, tables[0]])] + [t for table in tables[1:] for t in (Spacer(1, 2 * mm), table)]
    doc.build(story)
    return buffer.getvalue()
