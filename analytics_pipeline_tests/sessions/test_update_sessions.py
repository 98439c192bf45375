"""``update_sessions`` over time: open and closed against the timeout, the cleanup closing
sessions as time passes, late events re-opening or extending a session and marking exactly the
statistics periods they touch, and the batch watermark. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from analytics_pipeline.sessions.build import (
    WATERMARK_KEY,
    close_inactive_sessions,
    overdue_open_sessions,
)
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event
from analytics_pipeline_tests.stats.helpers import (
    dirty_marks,
    drop,
    ingest,
    session_updated_at,
    sessionise,
    stored_sessions,
    utc,
)

MARCH_1 = date(2024, 3, 1)  # a Friday: week of 2024-02-26
LATER = datetime(2024, 3, 20, tzinfo=timezone.utc)


def _clear_marks(warehouse: Warehouse) -> None:
    """Build every period marked stale, as the pipeline would, so the next marks stand alone."""
    for grain, start in sorted(dirty_marks(warehouse)):
        build_period(warehouse, grain, start)
    assert dirty_marks(warehouse) == set()


@pytest.fixture
def visit(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    """Session s1: pageviews at 10:00:00 and 10:05:00.250 on 2024-03-01, ingested at 10:06."""
    drop(landing_dir, "visit.jsonl", [
        event(event_id="v-1", session_id="s1", occurred_at="2024-03-01T10:00:00Z", url_path="/"),
        event(event_id="v-2", session_id="s1", occurred_at="2024-03-01T10:05:00.250Z", url_path="/pricing"),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-01T10:06:00Z"))
    return warehouse


def test_a_session_stays_open_until_its_last_activity_is_older_than_the_timeout(visit: Warehouse) -> None:
    first = sessionise(visit, utc("2024-03-01T10:20:00Z"))
    assert (first.sessions_rebuilt, first.sessions_closed) == (1, 0)
    assert stored_sessions(visit)["s1"]["ended_at"] is None
    assert stored_sessions(visit)["s1"]["duration_seconds"] is None

    # Exactly 30 minutes of inactivity is not "older than the timeout" yet.
    exactly = sessionise(visit, utc("2024-03-01T10:35:00.250Z"))
    assert (exactly.sessions_rebuilt, exactly.sessions_closed) == (0, 0)
    assert stored_sessions(visit)["s1"]["ended_at"] is None
    assert overdue_open_sessions(visit, timeout_minutes=30, now=utc("2024-03-01T10:35:00.250Z")) == 0

    assert overdue_open_sessions(visit, timeout_minutes=30, now=utc("2024-03-01T10:35:00.251Z")) == 1
    closed = sessionise(visit, utc("2024-03-01T10:35:00.251Z"))
    assert (closed.sessions_rebuilt, closed.sessions_closed) == (0, 1)
    session = stored_sessions(visit)["s1"]
    assert session["ended_at"] == utc("2024-03-01T10:05:00.250Z")
    assert session["duration_seconds"] == 300
    assert overdue_open_sessions(visit, timeout_minutes=30, now=LATER) == 0


def test_the_cleanup_alone_closes_inactive_sessions_with_whole_seconds(warehouse: Warehouse, landing_dir: Path) -> None:
    drop(landing_dir, "long.jsonl", [
        event(event_id="l-1", session_id="long", occurred_at="2024-03-01T10:00:00.900Z"),
        custom_event(event_id="l-2", session_id="long", occurred_at="2024-03-01T10:12:00Z"),
        event(event_id="l-3", session_id="long", occurred_at="2024-03-01T10:25:00.100Z", url_path="/end"),
        event(event_id="o-1", session_id="other", visitor_id="visitor-2", occurred_at="2024-03-01T10:50:00Z"),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-01T11:00:00Z"))
    sessionise(warehouse, utc("2024-03-01T10:50:00Z"))
    assert [s["ended_at"] for s in stored_sessions(warehouse).values()] == [None, None]

    assert close_inactive_sessions(warehouse, timeout_minutes=30, now=utc("2024-03-01T11:00:00Z")) == 1
    sessions = stored_sessions(warehouse)
    assert sessions["long"]["ended_at"] == utc("2024-03-01T10:25:00.100Z")
    assert sessions["long"]["duration_seconds"] == 1499  # 1499.2 s, truncated
    assert (sessions["long"]["pageviews"], sessions["long"]["events"]) == (2, 3)
    assert sessions["other"]["ended_at"] is None

    assert close_inactive_sessions(warehouse, timeout_minutes=30, now=utc("2024-03-01T11:20:00.000001Z")) == 1
    assert stored_sessions(warehouse)["other"]["duration_seconds"] == 0
    assert close_inactive_sessions(warehouse, timeout_minutes=30, now=LATER) == 0


def test_a_late_event_extends_a_closed_session_and_marks_its_day_week_and_month(visit: Warehouse, landing_dir: Path) -> None:
    sessionise(visit, utc("2024-03-01T12:00:00Z"))
    _clear_marks(visit)
    assert stored_sessions(visit)["s1"]["duration_seconds"] == 300

    drop(landing_dir, "late.jsonl", [
        event(event_id="v-3", session_id="s1", occurred_at="2024-03-01T10:20:00.750Z", url_path="/late"),
    ])
    ingest(visit, landing_dir, utc("2024-03-05T09:00:00Z"))
    result = sessionise(visit, utc("2024-03-05T09:00:00Z"))

    assert result.sessions_rebuilt == 1
    session = stored_sessions(visit)["s1"]
    assert session["last_activity_at"] == session["ended_at"] == utc("2024-03-01T10:20:00.750Z")
    assert session["duration_seconds"] == 1200
    assert (session["pageviews"], session["events"], session["is_bounce"]) == (3, 3, False)
    assert (session["entry_path"], session["exit_path"]) == ("/", "/late")
    assert dirty_marks(visit) == {("day", MARCH_1), ("week", date(2024, 2, 26)), ("month", MARCH_1)}


def test_a_late_event_within_the_timeout_reopens_a_closed_session(visit: Warehouse, landing_dir: Path) -> None:
    sessionise(visit, utc("2024-03-01T11:00:00Z"))
    assert stored_sessions(visit)["s1"]["ended_at"] == utc("2024-03-01T10:05:00.250Z")

    drop(landing_dir, "late.jsonl", [
        custom_event("checkout", event_id="v-3", session_id="s1", occurred_at="2024-03-01T10:50:00Z",
                     url_path="/checkout"),
    ])
    ingest(visit, landing_dir, utc("2024-03-01T11:00:00Z"))
    sessionise(visit, utc("2024-03-01T11:00:00Z"))

    session = stored_sessions(visit)["s1"]
    assert session["last_activity_at"] == utc("2024-03-01T10:50:00Z")
    assert (session["ended_at"], session["duration_seconds"]) == (None, None)
    # A custom event is activity but not a pageview: exit path and bounce are about pageviews.
    assert (session["pageviews"], session["events"], session["exit_path"]) == (2, 3, "/pricing")

    sessionise(visit, utc("2024-03-01T11:20:00.000001Z"))
    assert stored_sessions(visit)["s1"]["duration_seconds"] == 3000


def test_a_late_event_before_the_start_moves_it_and_marks_the_old_and_new_periods(warehouse: Warehouse, landing_dir: Path) -> None:
    # Starts Monday 2024-03-04 00:10; a late event from Sunday 23:55 moves the start into the
    # previous week (2024-02-26) and month (2024-03 stays: 2024-03-03 is in March).
    drop(landing_dir, "monday.jsonl", [
        event(event_id="m-1", session_id="s1", occurred_at="2024-03-04T00:10:00Z", url_path="/monday",
              referrer="https://news.example/"),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-04T01:00:00Z"))
    sessionise(warehouse, utc("2024-03-04T01:00:00Z"))
    _clear_marks(warehouse)

    drop(landing_dir, "sunday.jsonl", [
        event(event_id="m-0", session_id="s1", occurred_at="2024-03-04T00:55:00+01:00", url_path="/sunday"),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-04T02:00:00Z"))
    result = sessionise(warehouse, utc("2024-03-04T02:00:00Z"))

    session = stored_sessions(warehouse)["s1"]
    assert session["started_at"] == utc("2024-03-03T23:55:00Z")
    assert (session["entry_path"], session["exit_path"], session["referrer"]) == ("/sunday", "/monday", None)
    assert session["duration_seconds"] == 900
    assert set(result.dirty_days) == {date(2024, 3, 3), date(2024, 3, 4)}
    assert dirty_marks(warehouse) == {
        ("day", date(2024, 3, 3)), ("day", date(2024, 3, 4)),
        ("week", date(2024, 2, 26)), ("week", date(2024, 3, 4)),
        ("month", date(2024, 3, 1)),
    }


def test_the_referrer_is_the_first_events_even_when_it_is_null(warehouse: Warehouse, landing_dir: Path) -> None:
    drop(landing_dir, "refs.jsonl", [
        event(event_id="r-2", session_id="s1", occurred_at="2024-03-01T10:01:00Z", referrer="https://google.com/"),
        event(event_id="r-1", session_id="s1", occurred_at="2024-03-01T10:00:00Z", referrer=None),
    ])
    ingest(warehouse, landing_dir, utc("2024-03-02T00:00:00Z"))
    sessionise(warehouse, utc("2024-03-02T00:00:00Z"))

    assert stored_sessions(warehouse)["s1"]["referrer"] is None


def test_the_watermark_takes_in_only_new_batches(visit: Warehouse, landing_dir: Path) -> None:
    first = sessionise(visit, utc("2024-03-01T10:10:00Z"))
    assert first.after_batch == 0 and first.upto_batch > 0
    assert visit.query("select_pipeline_state", {"key": WATERMARK_KEY})[0]["value"] == str(first.upto_batch)
    _clear_marks(visit)
    updated_at = session_updated_at(visit)

    again = sessionise(visit, utc("2024-03-01T10:12:00Z"))
    assert (again.after_batch, again.upto_batch) == (first.upto_batch, first.upto_batch)
    assert (again.sessions_rebuilt, again.sessions_closed, again.dirty_days) == (0, 0, {})
    assert dirty_marks(visit) == set()
    assert session_updated_at(visit) == updated_at

    drop(landing_dir, "other.jsonl", [
        event(event_id="w-1", session_id="s2", visitor_id="visitor-2", occurred_at="2024-03-01T10:09:00Z"),
    ])
    ingest(visit, landing_dir, utc("2024-03-01T10:13:00Z"))
    third = sessionise(visit, utc("2024-03-01T10:13:00Z"))
    assert third.after_batch == first.upto_batch and third.upto_batch > first.upto_batch
    assert third.sessions_rebuilt == 1
    assert session_updated_at(visit)["s1"] == updated_at["s1"]  # untouched session not rebuilt
    assert set(stored_sessions(visit)) == {"s1", "s2"}



def test_a_late_event_on_the_next_day_marks_both_the_event_day_and_the_start_day(
        warehouse: Warehouse, landing_dir: Path) -> None:
    drop(landing_dir, "evening.jsonl", [
        event(event_id="n-1", session_id="night", occurred_at="2024-03-31T23:50:00Z"),
    ])
    ingest(warehouse, landing_dir, utc("2024-04-01T01:00:00Z"))
    sessionise(warehouse, utc("2024-04-01T01:00:00Z"))
    _clear_marks(warehouse)
    assert build_period(warehouse, "day", date(2024, 3, 31)) == 1

    drop(landing_dir, "after-midnight.jsonl", [
        event(event_id="n-2", session_id="night", occurred_at="2024-04-01T00:20:00Z", url_path="/next"),
    ])
    ingest(warehouse, landing_dir, utc("2024-04-01T03:00:00Z"))
    sessionise(warehouse, utc("2024-04-01T03:00:00Z"))

    # The event's day, week and month, and the start day's (its average duration changed).
    assert dirty_marks(warehouse) == {
        ("day", date(2024, 3, 31)), ("day", date(2024, 4, 1)),
        ("week", date(2024, 3, 25)), ("week", date(2024, 4, 1)),
        ("month", date(2024, 3, 1)), ("month", date(2024, 4, 1)),
    }
    assert stored_sessions(warehouse)["night"]["duration_seconds"] == 1800
