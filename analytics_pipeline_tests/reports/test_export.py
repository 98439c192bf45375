"""On-demand exports: every kind in every format, read back with a real reader and checked
against counts worked out by hand; clear errors for bad requests; the CLI and the Dagster job."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date, datetime, timezone

import dagster as dg
import openpyxl
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.reports.export import KINDS, ExportError, ExportRequest, run_export
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline_tests.factories import custom_event, event, write_jsonl

MAR1 = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
FEB29 = datetime(2024, 2, 29, 10, 0, tzinfo=timezone.utc)
NOW = datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def events(warehouse, landing_dir):
    write_jsonl(landing_dir / "events.jsonl", [
        # 2024-03-01: site-a 3 pageviews ("/" twice) and a custom event named like a formula; site-b 1
        event(occurred_at=MAR1, url_path="/", referrer="https://www.Google.com/q"),
        event(occurred_at=MAR1.replace(minute=5), url_path="/pricing"),
        event(occurred_at=MAR1.replace(minute=7), session_id="s-2", visitor_id="v-2", url_path="/"),
        custom_event("=cmd|' /C calc'!A0", occurred_at=MAR1.replace(minute=8)),
        event(occurred_at=MAR1, website_id="site-b", session_id="b-1", visitor_id="b-v", url_path="/b"),
        # 2024-02-29: site-a 2 pageviews
        event(occurred_at=FEB29, session_id="s-0", url_path="/"),
        event(occurred_at=FEB29.replace(minute=1), session_id="s-0", url_path="/old"),
    ])
    ingest_landing(warehouse, landing_dir, now=lambda: NOW)
    update_sessions(warehouse, timeout_minutes=30, now=NOW)
    for day in (date(2024, 2, 29), date(2024, 3, 1)):
        build_period(warehouse, "day", day)
    build_period(warehouse, "month", date(2024, 2, 1))
    return warehouse


def read(result) -> list[dict]:
    raw = result.path.read_bytes()
    if result.filename.endswith(".gz"):
        raw = gzip.decompress(raw)
    if ".csv" in result.filename:
        return list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    if ".json" in result.filename:
        document = json.loads(raw)
        assert document["metadata"]["totalRecords"] == len(document["data"])
        return document["data"]
    ws = openpyxl.load_workbook(io.BytesIO(raw)).active
    header = [c.value for c in ws[1]]
    return [dict(zip(header, (c.value for c in row))) for row in ws.iter_rows(min_row=2)]


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_in_every_format(events, tmp_path, kind, fmt):
    request = ExportRequest(kind=kind, format=fmt, start=date(2024, 2, 29), end=date(2024, 3, 1))
    result = run_export(events, request, tmp_path, now=NOW)
    assert result.filename.startswith(f"{kind}_2024-02-29_2024-03-01_20240305T090000Z.{fmt}")
    assert result.size == result.path.stat().st_size and result.timestamp == NOW
    rows = read(result)
    assert len(rows) == result.records
    if kind == "comprehensive":
        assert {r["section"] for r in rows} == {"summary", "user-growth", "activity-trends", "top-items", "recent-activity"}
        summary = next(r for r in rows if r["section"] == "summary")
        assert int(summary["totalEvents"]) == 7 and int(summary["uniqueUsers"]) == 3
    if kind in ("activity-trends", "comprehensive"):
        days = {(r["scope"], str(r["date"])[:10]): int(r["pageviews"]) for r in rows if r.get("date")}
        assert days[("all", "2024-03-01")] == 4 and days[("all", "2024-02-29")] == 2
        assert days[("site-a", "2024-03-01")] == 3 and days[("site-b", "2024-03-01")] == 1
    if kind in ("top-items", "comprehensive"):
        pages = {r["item"]: int(r["count"]) for r in rows if r.get("list") == "pages" and r["scope"] == "all"}
        assert pages == {"/": 3, "/b": 1, "/old": 1, "/pricing": 1}
        custom = [r["item"] for r in rows if r.get("list") == "customEvents"]
        # the event name stays text: an apostrophe in CSV, a text cell in XLSX, verbatim in JSON
        assert set(custom) == {"'=cmd|' /C calc'!A0" if fmt == "csv" else "=cmd|' /C calc'!A0"}
    if kind in ("recent-activity", "comprehensive"):
        recent = [r for r in rows if r.get("eventId")]
        assert len(recent) == 7 and str(recent[0]["occurredAt"]).startswith("2024-03-01T10:08")
    if kind in ("user-growth", "comprehensive"):
        months = {(r["scope"], str(r["month"])[:10]): int(r["pageviews"]) for r in rows if r.get("month")}
        assert months[("all", "2024-02-01")] == 2


def test_gzip_and_bare_json(events, tmp_path):
    result = run_export(events, ExportRequest(kind="activity-trends", format="json", days=7, include_metadata=False,
                                              gzip=True), tmp_path, now=NOW)
    assert result.filename.endswith(".json.gz") and result.content_type == "application/gzip"
    rows = json.loads(gzip.decompress(result.path.read_bytes()))
    assert isinstance(rows, list) and {r["date"] for r in rows} == {f"2024-02-{d}" for d in (27, 28, 29)} | {
        "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"}


@pytest.mark.parametrize("request_args,message", [
    ({"kind": "everything"}, "unknown export 'everything'"),
    ({"kind": "top-items", "format": "pdf"}, "invalid format 'pdf': expected one of csv, json, xlsx"),
    ({"kind": "top-items", "start": date(2024, 3, 2), "end": date(2024, 3, 1)}, "--from 2024-03-02 is after --to 2024-03-01"),
    ({"kind": "top-items", "start": date(2024, 3, 1), "end": date(2024, 3, 5)}, "not a complete day yet"),
    ({"kind": "top-items", "start": date(2024, 3, 1)}, "give both --from and --to"),
    ({"kind": "top-items", "start": date(2024, 3, 1), "end": date(2024, 3, 2), "days": 3}, "give one or the other"),
    ({"kind": "top-items", "limit": 0}, "--limit must be at least 1"),
])
def test_bad_requests_are_refused_with_the_reason(warehouse, tmp_path, request_args, message):
    with pytest.raises(ExportError, match=message.replace("(", r"\(")):
        run_export(warehouse, ExportRequest(**request_args), tmp_path / "exports", now=NOW)
    assert not (tmp_path / "exports").exists()


def test_cli_prints_the_result_and_exits_2_on_a_bad_request(events, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", str(events.engine.url.render_as_string(hide_password=False)))
    assert main(["export", "top-items", "--format", "json", "--days", "3", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"filename", "path", "contentType", "size", "timestamp", "records"}
    assert result["contentType"] == "application/json" and result["size"] > 0
    assert main(["export", "top-items", "--format", "pdf", "--out", str(tmp_path)]) == 2
    assert "invalid format 'pdf'" in capsys.readouterr().err


def test_export_job_with_config(events, resources, instance, reports_dir):
    from analytics_pipeline.reports.definitions import export_job

    result = export_job.execute_in_process(
        run_config={"ops": {"write_export": {"config": {"kind": "top-items", "format": "xlsx",
                                                        "start": "2024-02-29", "end": "2024-03-01"}}}},
        resources=resources, instance=instance)
    assert result.success
    (path,) = (reports_dir / "exports").glob("top-items_2024-02-29_2024-03-01_*.xlsx")
    ws = openpyxl.load_workbook(path).active
    assert [c.value for c in ws[1]] == ["scope", "list", "rank", "item", "count"]
    bad = export_job.execute_in_process(
        run_config={"ops": {"write_export": {"config": {"kind": "top-items", "format": "pdf"}}}},
        resources=resources, instance=instance, raise_on_error=False)
    assert not bad.success
    failure = next(e for e in bad.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "invalid format 'pdf'" in failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
