"""Cache fixtures: a small warehouse with statistics, relative to today (the sensors and the
Dagster assets read the real clock), and both cache backends."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from analytics_pipeline.cache.backends import Cache, EmbeddedCache, RedisCache
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.partitions import period_start
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event, write_jsonl

NOW = datetime.now(timezone.utc)
TODAY = NOW.date()


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def day(offset: int) -> date:
    """``offset`` days before today."""
    return TODAY - timedelta(days=offset)


# (website, visitor, session, kind, path/name, referrer, when)
EVENTS = [
    # yesterday: site-a 3 pageviews + 1 signup; site-b 2 pageviews by a visitor id site-a also has
    ("site-a", "v1", "a1", "pageview", "/", "https://www.Google.com/search", at(day(1), 10, 0)),
    ("site-a", "v1", "a1", "pageview", "/pricing", None, at(day(1), 10, 1)),
    ("site-a", "v1", "a1", "pageview", "/", None, at(day(1), 10, 2)),
    ("site-a", "v2", "a2", "custom", "signup", None, at(day(1), 11, 0)),
    ("site-b", "v1", "b1", "pageview", "/docs", "news.ycombinator.com", at(day(1), 9, 0)),
    ("site-b", "v1", "b1", "pageview", "/docs", None, at(day(1), 9, 5)),
    # 12 days ago (inside 14 and 30, not 7)
    ("site-a", "v3", "a3", "pageview", "/blog", None, at(day(12))),
    ("site-a", "v3", "a3", "custom", "purchase", None, at(day(12), 10, 3)),
    # 40 days ago (inside 90 only)
    ("site-b", "v4", "b4", "pageview", "/", None, at(day(40))),
    # 85 days ago (inside 90 only)
    ("site-a", "v5", "a5", "pageview", "/", None, at(day(85))),
    # today, just after midnight: in recent activity, in no full-day window
    ("site-a", "v6", "a6", "pageview", "/today", None, at(TODAY, 0, 0)),
]


def make_event(site, visitor, session, kind, what, referrer, when, **extra):
    if kind == "custom":
        return custom_event(what, website_id=site, visitor_id=visitor, session_id=session,
                            occurred_at=when, **extra)
    return event(website_id=site, visitor_id=visitor, session_id=session, url_path=what,
                 referrer=referrer, occurred_at=when, **extra)


def load(warehouse: Warehouse, landing_dir: Path, rows, name: str) -> set[date]:
    """Ingest ``rows`` (tuples as in EVENTS), update sessions, and (re)build the stats of every
    day and month they touch; the days touched."""
    write_jsonl(landing_dir / name, [make_event(*r) for r in rows])
    ingest_landing(warehouse, landing_dir, now=lambda: NOW)
    update_sessions(warehouse, timeout_minutes=30, now=NOW)
    days = {r[6].date() for r in rows}
    for d in sorted(days):
        build_period(warehouse, "day", d)
    for m in sorted({period_start("month", d) for d in days}):
        build_period(warehouse, "month", m)
    return days


@pytest.fixture
def populated(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    load(warehouse, landing_dir, EVENTS, "events.jsonl")
    return warehouse


@pytest.fixture(params=["embedded", "redis"])
def cache_backend(request: pytest.FixtureRequest, warehouse: Warehouse) -> Cache:
    if request.param == "embedded":
        return EmbeddedCache(warehouse)
    return RedisCache(request.getfixturevalue("redis_url"))
