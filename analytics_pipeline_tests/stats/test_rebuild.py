"""Rebuilding a period replaces it: one set of rows, the new events' numbers, stale website rows
gone, and only that period's stats_dirty mark cleared. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event
from analytics_pipeline_tests.stats.helpers import dirty_marks, drop, execute, ingest, sessionise, stats, utc

MARCH_1 = date(2024, 3, 1)
WEEK = date(2024, 2, 26)


@pytest.fixture
def first_day(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    """2024-03-01: site-a s1 (two pageviews), site-b s2 (one pageview); ingested, sessionised."""
    drop(landing_dir, "day.jsonl", [
        event(event_id="d-1", session_id="s1", occurred_at="2024-03-01T10:00:00Z", url_path="/"),
        event(event_id="d-2", session_id="s1", occurred_at="2024-03-01T10:01:00Z", url_path="/pricing"),
        event(event_id="d-3", website_id="site-b", session_id="s2", visitor_id="visitor-9",
              occurred_at="2024-03-01T11:00:00Z"),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-02T00:00:00Z"))
    sessionise(warehouse, utc("2024-03-02T00:00:00Z"))
    return warehouse


def test_building_a_day_twice_leaves_exactly_one_set_of_rows(first_day: Warehouse) -> None:
    assert build_period(first_day, "day", MARCH_1, now=utc("2024-03-02T01:00:00Z")) == 2
    before = stats(first_day, "day", MARCH_1)

    assert build_period(first_day, "day", MARCH_1, now=utc("2024-03-02T02:00:00Z")) == 2

    after = stats(first_day, "day", MARCH_1)
    assert after == before
    assert sorted(after) == ["site-a", "site-b"]
    computed = first_day.query("select_period_stats", {"period": first_day.day(MARCH_1)},
                               table="daily_stats", key_column="date")
    assert len(computed) == 2
    assert {Warehouse.to_datetime(r["computed_at"]) for r in computed} == {utc("2024-03-02T02:00:00Z")}


def test_a_rebuild_reflects_late_events_and_drops_websites_without_events(first_day: Warehouse, landing_dir: Path) -> None:
    build_period(first_day, "day", MARCH_1)
    assert stats(first_day, "day", MARCH_1)["site-a"]["total_pageviews"] == 2

    drop(landing_dir, "late.jsonl", [
        event(event_id="d-4", session_id="s3", visitor_id="visitor-2", occurred_at="2024-03-01T23:59:59Z",
              url_path="/pricing", referrer="https://www.Example.com/x"),
        custom_event("signup", event_id="d-5", session_id="s1", occurred_at="2024-03-01T10:02:00Z"),
        event(event_id="d-6", website_id="site-c", session_id="s4", visitor_id="visitor-3",
              occurred_at="2024-03-01T12:00:00Z"),
    ])
    ingest(first_day, landing_dir, utc("2024-03-05T00:00:00Z"))
    sessionise(first_day, utc("2024-03-05T00:00:00Z"))
    execute(first_day, "DELETE FROM events WHERE website_id = 'site-b'")

    assert build_period(first_day, "day", MARCH_1) == 2

    rows = stats(first_day, "day", MARCH_1)
    assert sorted(rows) == ["site-a", "site-c"]
    assert rows["site-a"] == {
        "total_pageviews": 3, "total_custom_events": 1, "unique_visitors": 2, "unique_sessions": 2,
        "top_pages": [{"item": "/pricing", "count": 2}, {"item": "/", "count": 1}],
        "top_referrers": [{"item": "direct", "count": 2}, {"item": "example.com", "count": 1}],
        "events_by_type": {"pageview": 3, "signup": 1},
        # s1: 10:00 -> 10:02 (120 s, not a bounce); s3: one pageview (0 s, a bounce).
        "sessions_started": 2, "bounce_rate": 0.5, "avg_session_duration_seconds": 60.0,
    }
    assert rows["site-c"]["total_pageviews"] == 1


def test_build_period_clears_only_its_own_dirty_mark(first_day: Warehouse) -> None:
    assert dirty_marks(first_day) == {("day", MARCH_1), ("week", WEEK), ("month", MARCH_1)}

    build_period(first_day, "day", MARCH_1)
    assert dirty_marks(first_day) == {("week", WEEK), ("month", MARCH_1)}
    build_period(first_day, "week", WEEK)
    assert dirty_marks(first_day) == {("month", MARCH_1)}
    build_period(first_day, "month", MARCH_1)
    assert dirty_marks(first_day) == set()


def test_a_period_without_events_has_no_rows(first_day: Warehouse) -> None:
    assert build_period(first_day, "day", date(2024, 3, 2)) == 0
    assert stats(first_day, "day", date(2024, 3, 2)) == {}
    assert build_period(first_day, "month", date(2024, 2, 1)) == 0
    assert stats(first_day, "month", date(2024, 2, 1)) == {}
