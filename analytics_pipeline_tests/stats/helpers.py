"""Loading hand-built event sets and reading back sessions, statistics and dirty marks the same
way on SQLite and PostgreSQL (shared by the sessions and stats tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from analytics_pipeline.ingestion.run import IngestResult, ingest_landing
from analytics_pipeline.sessions.build import SessionsResult, update_sessions
from analytics_pipeline.stats.build import STATS_COLUMNS, read_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stats"
TIMEOUT_MINUTES = 30
SESSION_COLUMNS = (
    "website_id", "visitor_id", "started_at", "last_activity_at", "ended_at", "duration_seconds",
    "pageviews", "events", "entry_path", "exit_path", "referrer", "is_bounce",
)
TIMESTAMP_COLUMNS = ("started_at", "last_activity_at", "ended_at")


def utc(text: str) -> datetime:
    """An ISO 8601 timestamp (``Z`` or offset) as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(timezone.utc)


@dataclass
class Case:
    """A ``<name>.jsonl`` event set and its hand-computed ``<name>.expected.json``."""

    name: str
    events_file: Path
    expected: dict[str, Any]

    @property
    def ingested_at(self) -> datetime:
        return utc(self.expected["ingested_at"])

    @property
    def sessions_at(self) -> datetime:
        return utc(self.expected["sessions_at"])

    def periods(self) -> list[tuple[str, date]]:
        return [(grain, date.fromisoformat(day))
                for grain, days in self.expected["stats"].items() for day in days]


def case(name: str) -> Case:
    return Case(name, FIXTURES / f"{name}.jsonl",
                json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8")))


def case_names() -> list[str]:
    return sorted(p.name.removesuffix(".expected.json") for p in FIXTURES.glob("*.expected.json"))


def drop(landing_dir: Path, name: str, events: Iterable[Mapping[str, Any]]) -> Path:
    """Write events as a JSONL file into the landing directory."""
    return write_jsonl(landing_dir / name, events)


def ingest(warehouse: Warehouse, landing_dir: Path, at: datetime) -> IngestResult:
    """Ingest every pending file as of ``at``; every line must load."""
    result = ingest_landing(warehouse, landing_dir, now=lambda: at, workers=0)
    assert result.rejected == 0, result.reasons
    return result


def sessionise(warehouse: Warehouse, at: datetime, timeout_minutes: int = TIMEOUT_MINUTES) -> SessionsResult:
    return update_sessions(warehouse, timeout_minutes=timeout_minutes, now=at)


def load_case(warehouse: Warehouse, landing_dir: Path, c: Case) -> None:
    """Ingest the case's events and bring sessions up to date as of its clocks."""
    drop(landing_dir, c.events_file.name, [json.loads(line) for line in
                                          c.events_file.read_text(encoding="utf-8").splitlines() if line])
    result = ingest(warehouse, landing_dir, c.ingested_at)
    assert result.loaded == sum(1 for line in c.events_file.read_text(encoding="utf-8").splitlines() if line)
    sessionise(warehouse, c.sessions_at, c.expected["timeout_minutes"])


def stored_sessions(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """``sessions`` by session_id: timestamps as aware UTC datetimes, ``is_bounce`` as bool."""
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM sessions")).mappings().all()
    out = {}
    for row in rows:
        item = {col: row[col] for col in SESSION_COLUMNS}
        for col in TIMESTAMP_COLUMNS:
            item[col] = Warehouse.to_datetime(item[col])
        item["is_bounce"] = bool(item["is_bounce"])
        out[row["session_id"]] = item
    return out


def expected_session(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A session row from a fixture (ISO timestamps parsed)."""
    item = dict(spec)
    for col in TIMESTAMP_COLUMNS:
        item[col] = utc(item[col]) if item[col] is not None else None
    return item


def stats(warehouse: Warehouse, grain: str, start: date) -> dict[str, dict[str, Any]]:
    """The stored rows of one period by website: exactly the SPEC §3 columns."""
    return {row["website_id"]: {col: row[col] for col in STATS_COLUMNS}
            for row in read_period(warehouse, grain, start)}


def dirty_marks(warehouse: Warehouse) -> set[tuple[str, date]]:
    """``stats_dirty`` as {(grain, period_start)}."""
    return {(r["grain"], Warehouse.to_date(r["period_start"])) for r in warehouse.query("select_stats_dirty")}


def execute(warehouse: Warehouse, statement: str, **params: Any) -> int:
    """A one-off statement for tampering with stored data in a test."""
    with warehouse.begin() as conn:
        return conn.execute(sa.text(statement), params).rowcount


def session_updated_at(warehouse: Warehouse) -> dict[str, datetime]:
    """``sessions.updated_at`` by session_id: which sessions a run rebuilt."""
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text("SELECT session_id, updated_at FROM sessions")).all()
    return {r[0]: Warehouse.to_datetime(r[1]) for r in rows}
