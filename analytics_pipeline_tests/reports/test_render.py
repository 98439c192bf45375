"""Every format read back with a real parser, its numbers compared with the statistics tables."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone
from pathlib import Path

import openpyxl
import pypdf
import pytest

from analytics_pipeline.reports.data import RECORD_COLUMNS, change_pct, gather_report_data
from analytics_pipeline.reports.generate import generate_report, write_report
from analytics_pipeline.reports.render_csv import to_csv
from analytics_pipeline.reports.templates import load_templates
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline_tests.reports.conftest import WEBSITES, read_table, template

NOW = datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)


def parse_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- CSV rules of the seed, on hostile values (no database) ----------------------------------------
def test_csv_header_is_the_union_of_keys_with_nested_objects_flattened_and_rfc4180_quoting():
    rows = [
        {"name": "comma, inside", "meta": {"source": {"host": "a.com"}, "n": 1}},
        {"name": 'quote " inside', "extra": "line1\nline2", "meta": {"n": 2}},
        {"name": "crlf\r\nhere", "flag": True, "none": None, "tags": ["x", "y"]},
        {"only_here": "=1+2", "name": " padded "},
    ]
    text = to_csv(rows)
    assert text.endswith("\r\n")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(parsed[0].keys()) == ["name", "meta.source.host", "meta.n", "extra", "flag", "none", "tags", "only_here"]
    assert [r["name"] for r in parsed] == ["comma, inside", 'quote " inside', "crlf\r\nhere", " padded "]
    assert parsed[0]["meta.source.host"] == "a.com" and parsed[0]["meta.n"] == "1"
    assert parsed[1]["extra"] == "line1\nline2" and parsed[1]["meta.source.host"] == ""
    assert parsed[2]["flag"] == "true" and parsed[2]["none"] == "" and json.loads(parsed[2]["tags"]) == ["x", "y"]
    assert parsed[3]["only_here"] == "'=1+2" and parsed[3]["meta.n"] == ""  # stays text in a spreadsheet
    # RFC 4180: quotes doubled inside a quoted field
    assert '"quote "" inside"' in text
    assert '"comma, inside"' in text


def test_csv_of_no_rows_is_empty():
    assert to_csv([]) == ""


# -- reports against the stats tables, both backends -----------------------------------------------
def test_weekly_csv_and_json_match_weekly_stats(stats, reports_dir):
    tpl = template(schedule="weekly")
    report = generate_report(stats, tpl, "2024-02-26", reports_dir, now=NOW)
    current = read_table(stats, "weekly_stats", date(2024, 2, 26))
    previous = read_table(stats, "weekly_stats", date(2024, 2, 19))
    paths = {p.suffix: p for p in report.paths}
    assert paths[".csv"] == reports_dir / "test-report" / "2024-02-26.csv"

    rows = parse_csv(paths[".csv"])
    assert list(rows[0]) == list(RECORD_COLUMNS)
    assert {(r["period_start"], r["period_end"], r["period_status"]) for r in rows} == {
        ("2024-02-26", "2024-03-03", "complete")}
    overview = {(r["website_id"], r["metric"]): r for r in rows if r["section"] == "overview"}
    assert {w for w, _ in overview} == set(WEBSITES)
    for site in WEBSITES:
        assert int(overview[site, "total_pageviews"]["value"]) == current[site]["total_pageviews"]
        assert int(overview[site, "total_pageviews"]["previous"]) == previous[site]["total_pageviews"]
        assert int(overview[site, "unique_visitors"]["value"]) == current[site]["unique_visitors"]
        assert float(overview[site, "bounce_rate"]["value"]) == round(current[site]["bounce_rate"], 4)
        # one definition of every change: relative for counts, points for the bounce rate
        assert float(overview[site, "total_pageviews"]["change"]) == change_pct(
            current[site]["total_pageviews"], previous[site]["total_pageviews"])
        assert overview[site, "total_pageviews"]["change_unit"] == "%"
        assert float(overview[site, "bounce_rate"]["change"]) == round(
            (current[site]["bounce_rate"] - previous[site]["bounce_rate"]) * 100, 1)
        assert overview[site, "bounce_rate"]["change_unit"] == "pp"
    summary = {r["metric"]: r for r in rows if r["section"] == "summary"}
    assert int(summary["total_pageviews"]["value"]) == sum(current[s]["total_pageviews"] for s in WEBSITES)
    assert int(summary["total_pageviews"]["previous"]) == sum(previous[s]["total_pageviews"] for s in WEBSITES)
    assert summary["bounce_rate"]["change_unit"] == "pp" and summary["bounce_rate"]["website_id"] == "all"
    top = [r for r in rows if r["section"] == "top_pages" and r["website_id"] == "site-a"]
    assert [(r["item"], int(r["value"]), int(r["rank"])) for r in top] == [
        (e["item"], e["count"], i) for i, e in enumerate(current["site-a"]["top_pages"], start=1)]
    assert top[1]["item"] == '/pricing, "plans"'  # a hostile value survives the round trip
    events = {r["item"]: int(r["value"]) for r in rows if r["section"] == "events_by_type" and r["website_id"] == "site-b"}
    assert events == current["site-b"]["events_by_type"]
    trend = [r for r in rows if r["section"] == "trend"]
    assert sorted({r["item"] for r in trend}) == [f"2024-02-{d}" for d in range(26, 30)] + ["2024-03-01", "2024-03-02", "2024-03-03"]
    for r in trend:
        assert r["dimension"] == "date"
        assert int(r["value"]) == read_table(stats, "daily_stats", date.fromisoformat(r["item"]))[r["website_id"]][r["metric"]]
    # no float noise: every number has at most 4 decimals
    assert all(len(r["value"].partition(".")[2]) <= 4 for r in rows)

    document = json.loads(paths[".json"].read_text())
    assert set(document["metadata"]) == {"generatedAt", "totalRecords", "exportFormat", "version", "dateRange",
                                         "periodStatus", "statusNote"}
    assert document["metadata"]["totalRecords"] == len(document["data"]) == len(rows)
    assert document["metadata"]["exportFormat"] == "JSON" and document["metadata"]["version"] == "1.0.0"
    assert document["metadata"]["dateRange"] == {"start": "2024-02-26", "end": "2024-03-03"}
    assert document["metadata"]["generatedAt"] == "2024-03-05T09:00:00Z"
    assert document["metadata"]["periodStatus"] == "complete"
    json_overview = {(r["website_id"], r["metric"]): r for r in document["data"] if r["section"] == "overview"}
    assert {k: json_overview["site-b", "total_pageviews"][k] for k in ("value", "previous", "change", "change_unit")} == {
        "value": current["site-b"]["total_pageviews"], "previous": previous["site-b"]["total_pageviews"],
        "change": change_pct(current["site-b"]["total_pageviews"], previous["site-b"]["total_pageviews"]),
        "change_unit": "%"}


def test_json_without_metadata_is_the_bare_record_list(stats, reports_dir):
    tpl = template(schedule="monthly", formats=["json"], include_metadata=False)
    (path,) = write_report(stats, tpl, "2024-03-01", reports_dir)
    document = json.loads(path.read_text())
    assert isinstance(document, list) and document[0]["section"] == "summary"


def test_xlsx_has_a_sheet_per_section_styled_frozen_headers_formats_and_charts(stats, reports_dir):
    tpl = template(schedule="monthly")
    report = generate_report(stats, tpl, "2024-03-01", reports_dir, now=NOW)
    path = next(p for p in report.paths if p.suffix == ".xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Report", "Summary", "Websites", "Top pages", "Top referrers", "Events by type", "Trend"]
    current = read_table(stats, "monthly_stats", date(2024, 3, 1))
    previous = read_table(stats, "monthly_stats", date(2024, 2, 1))
    ws = wb["Websites"]
    header = [c.value for c in ws[1]]
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold
    col = {name: i for i, name in enumerate(header)}
    by_site = {row[0].value: row for row in ws.iter_rows(min_row=2) if row[0].value}
    for site in WEBSITES:
        assert by_site[site][col["Pageviews"]].value == current[site]["total_pageviews"]
        assert by_site[site][col["Unique visitors"]].value == current[site]["unique_visitors"]
        assert by_site[site][col["Pageviews"]].number_format == "#,##0"
        # a rate is a fraction under a % format: 0.412 shows 41.2%
        assert by_site[site][col["Bounce rate"]].value == round(current[site]["bounce_rate"], 4)
        assert by_site[site][col["Bounce rate"]].number_format == "0.0%"
        # a relative change is a fraction under a % format too; the bounce rate's change is in points
        change = by_site[site][col["Pageviews change (%)"]]
        assert change.value == pytest.approx(change_pct(current[site]["total_pageviews"],
                                                        previous[site]["total_pageviews"]) / 100, abs=1e-4)
        assert change.number_format == "+0.0%;-0.0%;0.0%"
        points = by_site[site][col["Bounce rate change (pp)"]]
        assert points.value == round((current[site]["bounce_rate"] - previous[site]["bounce_rate"]) * 100, 1)
        assert points.number_format.startswith('+0.0" pp"')
    assert len(ws._charts) == 1
    assert len(wb["Trend"]._charts) == 1
    assert wb["Trend"]["A2"].value == datetime(2024, 3, 1) and wb["Trend"]["A2"].number_format == "yyyy-mm-dd"
    assert ws.column_dimensions["A"].width >= 8
    assert "March 2024" in wb["Report"]["A1"].value
    # generated on 2024-03-05: March is still in progress, and the cover says so
    assert [r[1].value for r in wb["Report"].iter_rows() if r[0].value == "Status"] == ["period in progress"]


def test_pdf_shows_title_period_kpis_and_tables_from_the_stats(stats, reports_dir):
    tpl = template(schedule="monthly", formats=["pdf"])
    (path,) = write_report(stats, tpl, "2024-03-01", reports_dir)
    reader = pypdf.PdfReader(path)
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(float(width)), round(float(height))) == (595, 842)  # A4 portrait
    text = "\n".join(page.extract_text() for page in reader.pages)
    current = read_table(stats, "monthly_stats", date(2024, 3, 1))
    previous = read_table(stats, "monthly_stats", date(2024, 2, 1))
    assert "Test report: March 2024" in text
    assert "2024-03-01 to 2024-03-31" in text
    total = sum(current[s]["total_pageviews"] for s in WEBSITES)
    before = sum(previous[s]["total_pageviews"] for s in WEBSITES)
    assert f"{total:,}" in text and f"{before:,}" in text
    assert f"{change_pct(total, before):+.1f}%" in text
    for site in WEBSITES:
        assert f"{current[site]['total_pageviews']:,}" in text
        assert current[site]["top_pages"][2]["item"] in text
    assert "Pageviews per day" in text  # the trend chart's title


def test_quarterly_report_adds_up_its_months(stats, reports_dir):
    tpl = template(schedule="quarterly", formats=["csv"])
    data = gather_report_data(stats, tpl, "2024-01-01", now=NOW)
    months = [read_table(stats, "monthly_stats", date(2024, m, 1)) for m in (1, 2, 3)]
    overview = {r["website_id"]: r for r in data.section("overview").rows}
    for site in WEBSITES:
        assert overview[site]["total_pageviews"]["value"] == sum(m[site]["total_pageviews"] for m in months)
        assert overview[site]["unique_visitors_monthly_avg"]["value"] == pytest.approx(
            sum(m[site]["unique_visitors"] for m in months) / 3, abs=0.05)
    assert data.previous.start == date(2023, 10, 1)
    (path,) = write_report(stats, tpl, "2024-01-01", reports_dir)
    rows = parse_csv(path)
    trend = [r for r in rows if r["section"] == "trend"]
    assert {r["dimension"] for r in trend} == {"month"}
    assert {r["item"] for r in trend} == {"2024-01-01", "2024-02-01", "2024-03-01"}


def test_a_period_without_stats_is_an_empty_report_not_an_error(warehouse, reports_dir):
    tpl = template(schedule="daily")
    report = generate_report(warehouse, tpl, "2024-03-01", reports_dir, now=NOW)
    assert all(p.stat().st_size > 0 for p in report.paths)
    assert report.data.websites == []
    assert [k.value for k in report.data.kpis][:2] == [0, 0]


def test_partition_key_must_start_its_period(warehouse, reports_dir):
    with pytest.raises(ValueError, match="not the first day of a week"):
        write_report(warehouse, template(schedule="weekly"), "2024-02-27", reports_dir)


DEFAULT_PERIODS = {
    "daily-activity-summary": ("2024-03-01", "daily_stats", [date(2024, 3, 1)]),
    "weekly-user-growth": ("2024-02-26", "weekly_stats", [date(2024, 2, 26)]),
    "monthly-comprehensive": ("2024-03-01", "monthly_stats", [date(2024, 3, 1)]),
    "quarterly-performance": ("2024-01-01", "monthly_stats", [date(2024, m, 1) for m in (1, 2, 3)]),
}


@pytest.mark.parametrize("template_id", sorted(DEFAULT_PERIODS))
def test_each_default_report_shows_the_stats_totals_in_all_four_formats(stats, reports_dir, template_id):
    tpl = load_templates(REPO_ROOT / "report_templates").by_id()[template_id]
    key, table, periods = DEFAULT_PERIODS[template_id]
    total = sum(row["total_pageviews"] for p in periods for row in read_table(stats, table, p).values())
    paths = {p.suffix: p for p in write_report(stats, tpl, key, reports_dir)}
    assert set(paths) == {".csv", ".json", ".xlsx", ".pdf"}
    assert all(p.name.startswith(key) and p.parent.name == template_id for p in paths.values())

    csv_summary = {r["metric"]: r for r in parse_csv(paths[".csv"]) if r["section"] == "summary"}
    assert int(csv_summary["total_pageviews"]["value"]) == total
    json_summary = {r["metric"]: r for r in json.loads(paths[".json"].read_text())["data"] if r["section"] == "summary"}
    assert json_summary["total_pageviews"]["value"] == total
    sheet = openpyxl.load_workbook(paths[".xlsx"])["Summary"]
    xlsx_summary = {row[0].value: row[2].value for row in sheet.iter_rows(min_row=2)}
    assert xlsx_summary["total_pageviews"] == total
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(paths[".pdf"]).pages)
    assert f"{total:,}" in text
    assert not list(reports_dir.rglob("*.tmp"))


def test_write_latest_reports_picks_the_latest_period_with_statistics(stats, reports_dir):
    from analytics_pipeline.reports.generate import write_latest_reports

    templates = load_templates(REPO_ROOT / "report_templates").templates
    written = write_latest_reports(stats, templates, reports_dir)
    assert {tid: sorted(p.name for p in paths) for tid, paths in written.items()} == {
        tid: sorted(f"{key}.{ext}" for ext in ("csv", "json", "xlsx", "pdf")) for tid, key in {
            "daily-activity-summary": "2024-04-30", "weekly-user-growth": "2024-04-29",
            "monthly-comprehensive": "2024-04-01", "quarterly-performance": "2024-04-01"}.items()}


def test_write_latest_reports_skips_grains_without_statistics(warehouse, reports_dir):
    from analytics_pipeline.reports.generate import write_latest_reports

    assert write_latest_reports(warehouse, load_templates(REPO_ROOT / "report_templates").templates, reports_dir) == {}


@pytest.mark.parametrize(("value", "previous", "metric", "pct", "text"), [
    (150, 100, "total_pageviews", 50.0, "+50.0%"),
    (90, 120, "unique_visitors", -25.0, "-25.0%"),
    (100, 100, "total_pageviews", 0.0, "no change"),
    (5, 0, "total_pageviews", None, "new"),
    (0, 0, "total_pageviews", None, "no change"),
    (5, None, "total_pageviews", None, "new"),
    (0.45, 0.40, "bounce_rate", 12.5, "+5.0 pp"),
])
def test_change_against_the_previous_period(value, previous, metric, pct, text):
    from analytics_pipeline.reports.data import change_text

    assert change_pct(value, previous) == pct
    assert change_text(value, previous, metric) == text
