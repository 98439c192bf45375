"""From events to a report: ingest, sessionise, aggregate with the stats stage, then check the
daily report's numbers against counts worked out by hand."""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone

from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.reports.generate import write_report
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline_tests.factories import NOW, custom_event, event, write_jsonl
from analytics_pipeline_tests.reports.conftest import template

MAR1 = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
FEB29 = datetime(2024, 2, 29, 10, 0, tzinfo=timezone.utc)


def test_daily_report_from_real_events(warehouse, landing_dir, reports_dir):
    write_jsonl(landing_dir / "events.jsonl", [
        # 2024-03-01, site-a: 3 pageviews by 2 visitors in 2 sessions, 1 signup; site-b: 1 pageview
        event(occurred_at=MAR1, url_path="/", referrer="https://www.Google.com/q"),
        event(occurred_at=MAR1.replace(minute=5), url_path="/pricing"),
        event(occurred_at=MAR1.replace(minute=7), session_id="s-2", visitor_id="v-2", url_path="/"),
        custom_event("signup", occurred_at=MAR1.replace(minute=8)),
        event(occurred_at=MAR1, website_id="site-b", session_id="b-1", visitor_id="b-v", url_path="/b"),
        # 2024-02-29, site-a: 2 pageviews
        event(occurred_at=FEB29, session_id="s-0", url_path="/"),
        event(occurred_at=FEB29.replace(minute=1), session_id="s-0", url_path="/old"),
    ])
    ingest_landing(warehouse, landing_dir, now=lambda: NOW)
    update_sessions(warehouse, timeout_minutes=30, now=NOW)
    build_period(warehouse, "day", date(2024, 2, 29))
    build_period(warehouse, "day", date(2024, 3, 1))

    tpl = template(schedule="daily", formats=["csv"],
                   content={"sections": ["summary", "overview", "top_pages", "top_referrers", "events_by_type"]})
    (path,) = write_report(warehouse, tpl, "2024-03-01", reports_dir)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["section", "period_start", "period_end", "period_status", "website_id", "dimension",
                             "item", "rank", "metric", "value", "previous", "change", "change_unit"]
    summary = {r["metric"]: r for r in rows if r["section"] == "summary"}
    assert (summary["total_pageviews"]["value"], summary["total_pageviews"]["previous"]) == ("4", "2")
    assert (summary["total_pageviews"]["change"], summary["total_pageviews"]["change_unit"]) == ("100.0", "%")
    assert summary["total_custom_events"]["value"] == "1"
    overview = {(r["website_id"], r["metric"]): r for r in rows if r["section"] == "overview"}
    assert overview["site-a", "total_pageviews"]["value"] == "3"
    assert overview["site-a", "total_pageviews"]["previous"] == "2"
    assert overview["site-a", "total_pageviews"]["change"] == "50.0"
    assert overview["site-a", "unique_visitors"]["value"] == "2"
    assert overview["site-a", "unique_sessions"]["value"] == "2"
    assert overview["site-b", "total_pageviews"]["previous"] == ""  # site-b had no data the day before
    pages = [(r["item"], r["value"], r["previous"]) for r in rows
             if r["section"] == "top_pages" and r["website_id"] == "site-a"]
    assert pages == [("/", "2", "1"), ("/pricing", "1", "")]
    referrers = {r["item"]: r["value"] for r in rows if r["section"] == "top_referrers" and r["website_id"] == "site-a"}
    assert referrers == {"direct": "2", "google.com": "1"}
    events = {r["item"]: r["value"] for r in rows if r["section"] == "events_by_type" and r["website_id"] == "site-a"}
    assert events == {"pageview": "3", "signup": "1"}
