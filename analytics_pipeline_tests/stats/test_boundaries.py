"""Periods are half-open UTC ranges: an event at exactly midnight belongs to the day (week,
month) it starts. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import event
from analytics_pipeline_tests.stats.helpers import drop, ingest, sessionise, stats, utc

MIDNIGHTS = {
    "m-1": "2024-03-31T00:00:00Z",          # Sunday: March, week of 2024-03-25
    "m-2": "2024-03-31T23:59:59.999999Z",   # still Sunday
    "m-3": "2024-04-01T00:00:00Z",          # Monday: April, week of 2024-04-01
    "m-4": "2024-04-01T02:00:00+02:00",     # the same instant, written with an offset
}


def test_events_at_midnight_belong_to_the_period_they_start(warehouse: Warehouse, landing_dir: Path) -> None:
    drop(landing_dir, "midnight.jsonl", [
        event(event_id=eid, session_id=eid, visitor_id=eid, occurred_at=at) for eid, at in MIDNIGHTS.items()
    ])
    ingest(warehouse, landing_dir, utc("2024-04-02T00:00:00Z"))
    sessionise(warehouse, utc("2024-04-02T00:00:00Z"))

    expected = {
        ("day", date(2024, 3, 31)): 2, ("day", date(2024, 4, 1)): 2,
        ("week", date(2024, 3, 25)): 2, ("week", date(2024, 4, 1)): 2,
        ("month", date(2024, 3, 1)): 2, ("month", date(2024, 4, 1)): 2,
    }
    for (grain, start), n in expected.items():
        build_period(warehouse, grain, start)
        row = stats(warehouse, grain, start)["site-a"]
        assert (row["total_pageviews"], row["unique_visitors"], row["unique_sessions"], row["sessions_started"]) == (
            n, n, n, n), (grain, start)
