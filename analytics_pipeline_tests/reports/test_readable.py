"""What a reader sees: PDF header contrast, charts that draw something from one period to many,
no legend entry for a previous period without bars, period labels, XLSX values and formats that
agree. The PDF drawings are inspected through reportlab's own objects (what gets painted)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import openpyxl
import pypdf
import pytest

from analytics_pipeline.reports import render_pdf
from analytics_pipeline.reports.data import gather_report_data
from analytics_pipeline.reports.generate import generate_report
from analytics_pipeline_tests.reports.conftest import WEBSITES, fill_stats, template


def luminance(color) -> float:
    """WCAG relative luminance of a reportlab colour."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.red) + 0.7152 * channel(color.green) + 0.0722 * channel(color.blue)


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_pdf_table_headers_are_readable_text_on_their_background():
    table = render_pdf._table(["Metric", "Value"], [["Pageviews", "1,234"]])
    header_cells = table._cellvalues[0]
    background = next(cmd[3] for cmd in render_pdf.TABLE_STYLE.getCommands() if cmd[0] == "BACKGROUND")
    for cell in header_cells:
        # a Paragraph paints with its own style's colour, whatever the table's TEXTCOLOR says
        assert contrast(cell.style.textColor, background) >= 4.5
    assert contrast(render_pdf.SMALL.textColor, render_pdf.colors.white) >= 4.5


@pytest.mark.parametrize("grain,start,points", [("quarter", "2024-01-01", 1), ("month", "2024-03-01", 1)])
def test_a_trend_with_one_period_still_draws_a_point(warehouse, grain, start, points):
    fill_stats(warehouse, date(2023, 10, 1), date(2024, 1, 31) if grain == "quarter" else date(2024, 3, 1))
    data = gather_report_data(warehouse, template(schedule={"quarter": "quarterly", "month": "monthly"}[grain]),
                              start, now=datetime(2024, 6, 1, tzinfo=timezone.utc))
    drawing = render_pdf._line_chart(data)
    chart = drawing.contents[0]
    assert [len(series) for series in chart.data] == [points] * len(WEBSITES)
    assert all(series[0] > 0 for series in chart.data)
    # a line needs two points: every series carries a marker, so one point is still painted
    for i in range(len(WEBSITES)):
        assert chart.lines[i].symbol is not None


def test_no_legend_entry_for_a_previous_period_without_bars(warehouse):
    fill_stats(warehouse, date(2024, 3, 1), date(2024, 3, 31))  # nothing for February
    data = gather_report_data(warehouse, template(schedule="monthly"), "2024-03-01",
                              now=datetime(2024, 4, 2, tzinfo=timezone.utc))
    drawing = render_pdf._bar_chart(data)
    chart, legend = drawing.contents[0], drawing.contents[1]
    assert len(chart.data) == 1 and all(v > 0 for v in chart.data[0])
    assert [name for _, name in legend.colorNamePairs] == ["March 2024"]
    fill_stats(warehouse, date(2024, 2, 1), date(2024, 2, 29))
    data = gather_report_data(warehouse, template(schedule="monthly"), "2024-03-01",
                              now=datetime(2024, 4, 2, tzinfo=timezone.utc))
    legend = render_pdf._bar_chart(data).contents[1]
    assert [name for _, name in legend.colorNamePairs] == ["March 2024", "February 2024"]


def test_a_period_in_progress_is_labelled_in_every_format(stats, reports_dir):
    report = generate_report(stats, template(schedule="quarterly"), "2024-04-01", reports_dir,
                             now=datetime(2024, 5, 10, tzinfo=timezone.utc))
    paths = {p.suffix: p for p in report.paths}
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(paths[".pdf"]).pages)
    assert "(period in progress)" in text and "Period in progress: Q2 2024 ends 2024-06-30" in text
    assert '"periodStatus": "period in progress"' in paths[".json"].read_text()
    assert ",period in progress," in paths[".csv"].read_text()
    cover = openpyxl.load_workbook(paths[".xlsx"])["Report"]
    facts = {r[0].value: r[1].value for r in cover.iter_rows() if r[0].value}
    assert facts["Status"] == "period in progress" and facts["Note"].startswith("Period in progress")


def test_xlsx_percent_formats_hold_fractions_and_charts_have_data(stats, reports_dir):
    report = generate_report(stats, template(schedule="monthly", formats=["xlsx"]), "2024-03-01", reports_dir,
                             now=datetime(2024, 4, 2, tzinfo=timezone.utc))
    wb = openpyxl.load_workbook(report.paths[0])
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, (int, float)) and "%" in cell.number_format:
                    # 0.7 under "%" shows 70%: every % cell holds a fraction, never 70 for 70%
                    assert -10 < cell.value < 10, (ws.title, cell.coordinate, cell.value, cell.number_format)
        for chart in ws._charts:
            assert chart.series, ws.title
            for series in chart.series:
                ref = series.val.numRef.f
                sheet, cells = ref.split("!")
                first, last = cells.replace("$", "").split(":")
                values = [c.value for row in wb[sheet.strip("'")][first:last] for c in row]
                assert values and any(isinstance(v, (int, float)) and v > 0 for v in values)
    summary = {r[0].value: r for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["bounce_rate"][2].number_format == "0.0%" and 0 <= summary["bounce_rate"][2].value <= 1
    assert summary["bounce_rate"][5].value == "points" and summary["total_pageviews"][5].value == "percent"


@pytest.mark.parametrize("names", [1, 4, 7, 12, 15])
def test_every_legend_name_is_painted_beside_its_own_colour(names):
    """reportlab's default legend (three rows a column) painted a fourth website's name next to
    the first one's colour; each name's nearest swatch on its line must be its own."""
    from reportlab.graphics.shapes import Group, Rect, String
    from reportlab.pdfbase.pdfmetrics import stringWidth

    labels = ["learning-platform"] + [f"site-{i:02d}" for i in range(1, names)]  # a long name first
    pairs = [(render_pdf.PALETTE[i % len(render_pdf.PALETTE)], label) for i, label in enumerate(labels)]

    def painted(node):
        for child in getattr(node, "contents", []):
            yield from painted(child) if isinstance(child, Group) else [child]

    shapes = list(painted(render_pdf._legend(pairs).draw()))
    texts = [s for s in shapes if isinstance(s, String)]
    swatches = [s for s in shapes if isinstance(s, Rect)]
    assert sorted(t.text for t in texts) == sorted(name for _, name in pairs)
    colours = dict((name, colour) for colour, name in pairs)
    for text in texts:
        left, right = text.x, text.x + stringWidth(text.text, text.fontName, text.fontSize)

        def gap(r: Rect) -> float:  # between the name and a swatch, on either side
            return max(r.x - right, left - (r.x + r.width), 0)

        on_its_line = [r for r in swatches if r.y <= text.y <= r.y + r.height]
        assert min(on_its_line, key=gap).fillColor == colours[text.text], text.text
    if names <= render_pdf.LEGEND_ROWS:
        assert len({t.x for t in texts}) == 1  # one column
