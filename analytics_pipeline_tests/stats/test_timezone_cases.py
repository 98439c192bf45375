"""Every hand-built case in fixtures/timezones: websites in their own time zones (a websites
file written from the case), sessions and every statistics column of each website's local day,
week and month equal the values written by hand, on SQLite and PostgreSQL; the reconciliation
check agrees in local days."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from analytics_pipeline.stats.build import build_period
from analytics_pipeline.stats.checks import daily_mismatches
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, load_websites
from analytics_pipeline_tests.stats.helpers import (
    Case,
    drop,
    expected_session,
    ingest,
    sessionise,
    stats,
    stored_sessions,
)
from analytics_pipeline_tests.stats.test_fixture_cases import approx_floats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "timezones"
AFTER_EVERYTHING = datetime(2025, 1, 1, tzinfo=timezone.utc)


def case_names() -> list[str]:
    return sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def load(name: str, warehouse: Warehouse, landing_dir: Path, tmp_path: Path) -> tuple[Case, WebsiteDirectory]:
    c = Case(name, FIXTURES / f"{name}.jsonl",
             json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8")))
    websites_file = tmp_path / "websites.yaml"
    websites_file.write_text(yaml.safe_dump({"websites": c.expected["websites"]}), encoding="utf-8")
    directory = load_websites(websites_file, "UTC")
    assert directory.problems == []
    lines = [json.loads(line) for line in c.events_file.read_text(encoding="utf-8").splitlines() if line]
    drop(landing_dir, c.events_file.name, lines)
    assert ingest(warehouse, landing_dir, c.ingested_at).loaded == len(lines)
    from analytics_pipeline.sessions.build import update_sessions

    update_sessions(warehouse, timeout_minutes=c.expected["timeout_minutes"], now=c.sessions_at, websites=directory)
    return c, directory


@pytest.mark.parametrize("name", case_names())
def test_sessions_match_the_hand_computed_rows(name: str, warehouse: Warehouse, landing_dir: Path, tmp_path: Path) -> None:
    c, _ = load(name, warehouse, landing_dir, tmp_path)

    stored = stored_sessions(warehouse)

    assert sorted(stored) == sorted(c.expected["sessions"])
    for session_id, spec in c.expected["sessions"].items():
        assert stored[session_id] == expected_session(spec), session_id


@pytest.mark.parametrize("name", case_names())
def test_local_periods_match_the_hand_computed_values(name: str, warehouse: Warehouse, landing_dir: Path,
                                                      tmp_path: Path) -> None:
    c, directory = load(name, warehouse, landing_dir, tmp_path)

    for grain, start in c.periods():
        expected = c.expected["stats"][grain][start.isoformat()]
        written = build_period(warehouse, grain, start, now=AFTER_EVERYTHING, websites=directory)

        rows = stats(warehouse, grain, start)
        assert written == len(expected), (grain, start)
        assert sorted(rows) == sorted(expected), (grain, start)
        for website, row in expected.items():
            assert rows[website] == approx_floats(row), (grain, start, website)

    days = sorted(date.fromisoformat(d) for d in c.expected["stats"]["day"])
    assert daily_mismatches(warehouse, days[0], days[-1], websites=directory) == []


def test_the_reconciliation_check_finds_a_day_counted_in_utc(warehouse: Warehouse, landing_dir: Path,
                                                             tmp_path: Path) -> None:
    """Statistics built in UTC days (no websites file) do not reconcile with New York's days."""
    c, directory = load("autumn_2024", warehouse, landing_dir, tmp_path)
    for day in c.expected["stats"]["day"]:
        build_period(warehouse, "day", date.fromisoformat(day), now=AFTER_EVERYTHING, websites=WebsiteDirectory())

    bad = daily_mismatches(warehouse, date(2024, 10, 31), date(2024, 11, 4), websites=directory)

    assert {(r["day"], r["events_pageviews"], r["stats_pageviews"]) for r in bad} >= {("2024-10-31", 1, None)}


def test_the_weekly_report_is_new_yorks_own_week(warehouse: Warehouse, landing_dir: Path, tmp_path: Path) -> None:
    """The weekly report of 2024-10-28 reads New York's local week (Oct 28 - Nov 3, holding the
    25-hour day and the month end): the numbers of autumn_2024.expected.json, against the
    previous local week (no data)."""
    from analytics_pipeline.reports.data import gather_report_data
    from analytics_pipeline.reports.templates import load_templates
    from analytics_pipeline.settings import REPO_ROOT

    c, directory = load("autumn_2024", warehouse, landing_dir, tmp_path)
    for grain, start in c.periods():
        build_period(warehouse, grain, start, now=AFTER_EVERYTHING, websites=directory)
    template = load_templates(REPO_ROOT / "report_templates").by_id()["weekly-user-growth"]

    report = gather_report_data(warehouse, template, "2024-10-28", now=AFTER_EVERYTHING)

    kpis = {k.metric: (k.value, k.previous) for k in report.kpis}
    assert kpis["unique_visitors"] == (3, None)
    assert kpis["sessions_started"] == (4, None)
    assert kpis["total_pageviews"] == (5, None)
    assert kpis["bounce_rate"][0] == pytest.approx(0.75)
    assert kpis["avg_session_duration_seconds"][0] == pytest.approx(300.25)
    trend = {(r["website_id"], r["date"]): r for r in report.section("trend").rows}
    assert {d for _, d in trend} == {"2024-10-31", "2024-11-01", "2024-11-02", "2024-11-03"}
    assert trend[("ny", "2024-11-03")]["total_pageviews"] == 2  # the 25-hour day
