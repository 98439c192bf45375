"""Report tests: statistics rows written straight into daily/weekly/monthly_stats with known
numbers (so every report figure can be checked against the table), templates, a local SMTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from analytics_pipeline.partitions import period_end
from analytics_pipeline.reports.templates import ReportTemplate, parse_template
from analytics_pipeline.warehouse import Warehouse

WEBSITES = ("site-a", "site-b")
JSON_COLUMNS = ("top_pages", "top_referrers", "events_by_type")
STATS_KEY = {"daily_stats": "date", "weekly_stats": "period_start", "monthly_stats": "period_start"}


def stats_values(website: str, period: date, scale: int) -> dict[str, Any]:
    """Deterministic, distinct numbers per website, period and table (scale 1/7/30)."""
    seed = period.toordinal() % 97 + (0 if website == "site-a" else 40)
    pageviews = scale * (100 + seed)
    custom = scale * (10 + seed % 13)
    signups = custom // 3
    return {
        "website_id": website,
        "total_pageviews": pageviews,
        "total_custom_events": custom,
        "unique_visitors": scale * 20 + seed,
        "unique_sessions": scale * 30 + seed,
        "top_pages": [{"item": "/", "count": pageviews // 2}, {"item": "/pricing, \"plans\"", "count": pageviews // 4},
                      {"item": f"/blog/{seed}", "count": pageviews // 8}],
        "top_referrers": [{"item": "direct", "count": pageviews // 2}, {"item": "google.com", "count": pageviews // 3}],
        "events_by_type": {"pageview": pageviews, "signup": signups, "click": custom - signups},
        "sessions_started": scale * 25 + seed,
        "bounce_rate": round(0.2 + (seed % 50) / 100, 4),
        "avg_session_duration_seconds": 60.0 + seed * 1.5,
    }


def insert_stats(warehouse: Warehouse, table: str, period: date, values: dict[str, Any], conn=None) -> None:
    """Replace one stats row (``conn``: inside the caller's transaction)."""
    if conn is None:
        with warehouse.begin() as conn:
            return insert_stats(warehouse, table, period, values, conn)
    key = STATS_KEY[table]
    columns = [key, *values.keys(), "computed_at"]
    params = {**{k: (json.dumps(v) if k in JSON_COLUMNS else v) for k, v in values.items()},
              key: warehouse.day(period), "computed_at": warehouse.ts(datetime.now(timezone.utc))}
    placeholders = [f"CAST(:{c} AS jsonb)" if warehouse.is_postgres and c in JSON_COLUMNS else f":{c}" for c in columns]
    conn.execute(sa.text(f"DELETE FROM {table} WHERE website_id = :w AND {key} = :p"),
                 {"w": values["website_id"], "p": warehouse.day(period)})
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholders)})"), params)


def fill_stats(warehouse: Warehouse, first: date = date(2023, 12, 1), last: date = date(2024, 4, 30)) -> None:
    """Every day, Monday week and month from ``first`` to ``last`` for both websites."""
    day = first
    with warehouse.begin() as conn:
        while day <= last:
            for website in WEBSITES:
                insert_stats(warehouse, "daily_stats", day, stats_values(website, day, 1), conn)
                if day.weekday() == 0:
                    insert_stats(warehouse, "weekly_stats", day, stats_values(website, day, 7), conn)
                if day.day == 1:
                    insert_stats(warehouse, "monthly_stats", day, stats_values(website, day, 30), conn)
            day += timedelta(days=1)


def read_table(warehouse: Warehouse, table: str, period: date) -> dict[str, dict[str, Any]]:
    """The stats rows of one period, by website, JSON decoded: what the reports must show."""
    key = STATS_KEY[table]
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM {table} WHERE {key} = :p"), {"p": warehouse.day(period)}).mappings()
        out = {}
        for row in rows:
            row = dict(row)
            for c in JSON_COLUMNS:
                row[c] = json.loads(row[c]) if isinstance(row[c], str) else row[c]
            out[row["website_id"]] = row
        return out


@pytest.fixture
def stats(warehouse: Warehouse) -> Warehouse:
    fill_stats(warehouse)
    return warehouse


def template(**overrides: Any) -> ReportTemplate:
    raw = {
        "id": "test-report", "name": "Test report", "description": "for tests", "schedule": "weekly",
        "formats": ["csv", "json", "xlsx", "pdf"], "recipients": ["team@example.com"],
        "content": {"sections": ["summary", "overview", "top_pages", "top_referrers", "events_by_type", "trend"]},
    }
    raw.update(overrides)
    return parse_template(raw, "test-report.yaml")


def write_template(directory: Path, **overrides: Any) -> Path:
    raw = {"id": "test-report", "name": "Test report", "schedule": "weekly", "formats": ["csv"]}
    raw.update(overrides)
    path = directory / f"{raw['id']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    path = tmp_path / "templates"
    path.mkdir()
    return path


def last_day(grain: str, start: date) -> date:
    return period_end(grain, start) - timedelta(days=1)


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, list]]:
    """A real aiosmtpd server on a free local port; yields (smtp_url, received messages)."""
    from email import message_from_bytes, policy

    from analytics_pipeline_tests.smtp_server import start_smtp_server

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            received.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    controller, port = start_smtp_server(Handler())
    try:
        yield f"smtp://127.0.0.1:{port}?from=reports@example.com", received
    finally:
        controller.stop()
