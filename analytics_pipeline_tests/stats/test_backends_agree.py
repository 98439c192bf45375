"""SQLite and PostgreSQL give identical sessions, statistics and dirty marks for the same input:
the hand-built cases, and a few days of generated traffic with same-instant ties in every
session-ordering rule."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics_pipeline.demo.generate import EventGenerator
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.partitions import period_start
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.conftest import _empty_postgres
from analytics_pipeline_tests.factories import event
from analytics_pipeline_tests.stats.helpers import (
    case,
    case_names,
    dirty_marks,
    drop,
    load_case,
    sessionise,
    stats,
    stored_sessions,
    utc,
)

pytestmark = pytest.mark.postgres
GENERATED_FIRST_DAY = date(2024, 2, 27)
GENERATED_DAYS = 5
# Sessions of the last generated day may run past its midnight: build one day more.
BUILT_DAYS = GENERATED_DAYS + 1


@pytest.fixture
def backends(tmp_path: Path, pg_database: str) -> dict[str, tuple[Warehouse, Path]]:
    """An empty warehouse on each backend, each with its own landing directory."""
    _empty_postgres(pg_database)
    out = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'warehouse.db'}"), ("postgresql", pg_database)):
        landing = tmp_path / f"landing-{name}"
        landing.mkdir()
        out[name] = (Warehouse(url), landing)
    return out


def _everything(warehouse: Warehouse, periods: list[tuple[str, date]]) -> dict[str, Any]:
    """Build every period, then everything a user can read back, decoded the same way."""
    marks = dirty_marks(warehouse)
    written = {(grain, start): build_period(warehouse, grain, start) for grain, start in periods}
    return {
        "sessions": stored_sessions(warehouse),
        "marks_before_build": marks,
        "marks_after_build": dirty_marks(warehouse),
        "written": written,
        "stats": {(grain, start): stats(warehouse, grain, start) for grain, start in periods},
    }


def _stats_differences(sqlite: dict, postgres: dict, *, floats_exact: bool) -> list[tuple]:
    """(period, website, column, sqlite value, postgresql value) for every stats value that
    differs; floats within 1e-12 relative count as equal unless ``floats_exact``."""
    out = []
    for key in sorted(set(sqlite) | set(postgres)):
        a, b = sqlite.get(key, {}), postgres.get(key, {})
        for website in sorted(set(a) | set(b)):
            ra, rb = a.get(website, {}), b.get(website, {})
            for column in sorted(set(ra) | set(rb)):
                va, vb = ra.get(column), rb.get(column)
                same = va == vb
                if not same and not floats_exact and isinstance(va, float) and isinstance(vb, float):
                    same = va == pytest.approx(vb, rel=1e-12)
                if not same:
                    out.append((key, website, column, va, vb))
    return out


def _assert_agree(sqlite: dict[str, Any], postgres: dict[str, Any]) -> None:
    assert sqlite["sessions"] == postgres["sessions"]
    assert sqlite["marks_before_build"] == postgres["marks_before_build"]
    assert sqlite["marks_after_build"] == postgres["marks_after_build"] == set()
    assert sqlite["written"] == postgres["written"]
    assert _stats_differences(sqlite["stats"], postgres["stats"], floats_exact=False) == []


@pytest.fixture(params=case_names())
def hand_built(request: pytest.FixtureRequest, backends: dict[str, tuple[Warehouse, Path]]) -> dict[str, Any]:
    """Each hand-built case loaded, sessionised and built on both backends."""
    c = case(request.param)
    results = {}
    for backend, (warehouse, landing) in backends.items():
        load_case(warehouse, landing, c)
        results[backend] = _everything(warehouse, c.periods())
    return results


def test_the_hand_built_cases_agree(hand_built: dict[str, Any]) -> None:
    _assert_agree(hand_built["sqlite"], hand_built["postgresql"])
    # Reports print these floats: 545.84 on one backend must not be 545.8399999999999 on the other.
    assert _stats_differences(hand_built["sqlite"]["stats"], hand_built["postgresql"]["stats"],
                              floats_exact=True) == []


def _ties() -> list[dict]:
    """Events at the same instant: the order (and so entry/exit path and referrer) falls to
    event_id in byte order ('t-B' < 't-a', 't-10' < 't-9')."""
    at = "2024-02-28T12:00:00Z"
    return [
        event(event_id="t-a", session_id="tie-1", occurred_at=at, url_path="/lower", referrer="https://a.example/"),
        event(event_id="t-B", session_id="tie-1", occurred_at=at, url_path="/upper", referrer="https://b.example/"),
        event(event_id="t-9", session_id="tie-2", occurred_at=at, url_path="/nine", referrer="https://nine.example/"),
        event(event_id="t-10", session_id="tie-2", occurred_at=at, url_path="/ten", referrer="https://ten.example/"),
    ]


@pytest.fixture
def generated(backends: dict[str, tuple[Warehouse, Path]]) -> dict[str, Any]:
    """Five days of generated traffic on three websites plus the same-instant ties, on each
    backend, sessionised mid-way (some sessions open), every touched period built."""
    days = [GENERATED_FIRST_DAY + timedelta(days=i) for i in range(BUILT_DAYS)]
    periods = sorted({(grain, period_start(grain, d)) for d in days for grain in ("day", "week", "month")})
    results = {}
    for backend, (warehouse, landing) in backends.items():
        EventGenerator(seed=11, websites=3).write_days(landing, days[0], GENERATED_DAYS, 200)
        drop(landing, "ties.jsonl", _ties())
        ingest_landing(warehouse, landing, now=lambda: utc("2024-03-05T00:00:00Z"), workers=0)
        sessionise(warehouse, utc("2024-03-02T18:00:00Z"))
        results[backend] = _everything(warehouse, periods)
    return results


def test_generated_traffic_agrees(generated: dict[str, Any]) -> None:
    sqlite, postgres = generated["sqlite"], generated["postgresql"]
    assert len(sqlite["sessions"]) > 50
    assert {s["ended_at"] is None for s in sqlite["sessions"].values()} == {True, False}
    assert (sqlite["sessions"]["tie-1"]["entry_path"], sqlite["sessions"]["tie-1"]["exit_path"]) == ("/upper", "/lower")
    assert sqlite["sessions"]["tie-1"]["referrer"] == "b.example"
    assert (sqlite["sessions"]["tie-2"]["entry_path"], sqlite["sessions"]["tie-2"]["referrer"]) == ("/ten", "ten.example")
    _assert_agree(sqlite, postgres)
    assert _stats_differences(sqlite["stats"], postgres["stats"], floats_exact=True) == []
