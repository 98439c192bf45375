"""Every hand-built case in fixtures/stats: sessions and every SPEC §3 statistics column equal
the values written by hand in ``<case>.expected.json``, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.stats.helpers import case, case_names, expected_session, load_case, stats, stored_sessions

FLOAT_COLUMNS = ("bounce_rate", "avg_session_duration_seconds")


def approx_floats(row: dict) -> dict:
    return {k: pytest.approx(v, rel=1e-12, abs=1e-12) if k in FLOAT_COLUMNS else v for k, v in row.items()}


@pytest.mark.parametrize("name", case_names())
def test_sessions_match_the_hand_computed_rows(name: str, warehouse: Warehouse, landing_dir: Path) -> None:
    c = case(name)
    load_case(warehouse, landing_dir, c)

    stored = stored_sessions(warehouse)

    assert sorted(stored) == sorted(c.expected["sessions"])
    for session_id, spec in c.expected["sessions"].items():
        assert stored[session_id] == expected_session(spec), session_id


@pytest.mark.parametrize("name", case_names())
def test_every_stats_column_matches_the_hand_computed_values(name: str, warehouse: Warehouse, landing_dir: Path) -> None:
    c = case(name)
    load_case(warehouse, landing_dir, c)

    for grain, start in c.periods():
        expected = c.expected["stats"][grain][start.isoformat()]
        written = build_period(warehouse, grain, start)

        rows = stats(warehouse, grain, start)
        assert written == len(expected), (grain, start)
        assert sorted(rows) == sorted(expected), (grain, start)
        for website, row in expected.items():
            assert rows[website] == approx_floats(row), (grain, start, website)
