"""Bring ``sessions`` up to date from the events ingested since the last run (SPEC §3).

Incremental by watermark: ``pipeline_state['sessions.batch_watermark']`` is the last ingestion
batch taken in. Each run rebuilds the sessions those new batches touched from all of their
events, closes the ones inactive for longer than the timeout, and marks the statistics periods
that changed (the days of the new events and the start days of touched sessions, before and
after) in ``stats_dirty`` so late data re-aggregates exactly what it touched. Days are each
website's local days (the websites file); with every website at UTC, UTC days as always.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.engine import Connection

from analytics_pipeline.partitions import period_start
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, bucket_day, bucket_start, current_websites

WATERMARK_KEY = "sessions.batch_watermark"


@dataclass
class SessionsResult:
    after_batch: int
    upto_batch: int
    sessions_rebuilt: int = 0
    sessions_closed: int = 0
    dirty_days: dict[date, int] = field(default_factory=dict)
    seconds: float = 0.0


def _state(conn: Connection, warehouse: Warehouse, key: str) -> str | None:
    row = conn.execute(warehouse.sql("select_pipeline_state"), {"key": key}).first()
    return row[0] if row else None


def mark_dirty(conn: Connection, warehouse: Warehouse, days: dict[date, int], now: datetime) -> None:
    """Mark the day, week and month of each day in ``days`` (day -> events) as stale."""
    marks: dict[tuple[str, date], int] = {}
    for day, events in days.items():
        for grain in ("day", "week", "month"):
            key = (grain, period_start(grain, day))
            marks[key] = marks.get(key, 0) + events
    if marks:
        conn.execute(
            warehouse.sql("mark_stats_dirty"),
            [{"grain": g, "period_start": warehouse.day(p), "events": n, "marked_at": warehouse.ts(now),
              "reason": None, "not_before": None}
             for (g, p), n in sorted(marks.items())],
        )


def _touched_days(conn: Connection, warehouse: Warehouse, websites: WebsiteDirectory, name: str,
                  params: dict[str, int]) -> dict[date, int]:
    """Day -> count from one of the day queries: UTC days with every website at UTC, else each
    website's local days (the ``*_buckets`` variant, mapped per 15-minute bucket)."""
    days: dict[date, int] = {}
    if websites.all_utc:
        for row in conn.execute(warehouse.sql(name), params):
            day = Warehouse.to_date(row[0])
            days[day] = days.get(day, 0) + int(row[1])
        return days
    bucket_query = name.replace("_days", "_buckets")
    for website_id, bucket, count in conn.execute(warehouse.sql(bucket_query), params):
        day = bucket_day(websites, website_id, bucket_start(bucket))
        days[day] = days.get(day, 0) + int(count)
    return days


def update_sessions(warehouse: Warehouse, *, timeout_minutes: int, now: datetime | None = None,
                    websites: WebsiteDirectory | None = None) -> SessionsResult:
    """Take in new events and close inactive sessions, in one transaction."""
    now = now or datetime.now(timezone.utc)
    websites = websites if websites is not None else current_websites()
    close_before = warehouse.ts(now - timedelta(minutes=timeout_minutes))
    started = time.perf_counter()
    with warehouse.begin() as conn:
        after = int(_state(conn, warehouse, WATERMARK_KEY) or 0)
        upto = int(conn.execute(warehouse.sql("select_max_batch_id")).scalar_one())
        result = SessionsResult(after_batch=after, upto_batch=upto)
        if upto > after:
            params = {"after_batch": after, "upto_batch": upto}
            conn.execute(warehouse.sql("create_touched_sessions"))
            conn.execute(warehouse.sql("clear_touched_sessions"))
            conn.execute(warehouse.sql("insert_touched_sessions"), params)
            dirty: dict[date, int] = {}
            for name in ("select_new_event_days", "select_touched_session_start_days"):
                for day, count in _touched_days(conn, warehouse, websites, name, params).items():
                    dirty[day] = dirty.get(day, 0) + count
            result.sessions_rebuilt = conn.execute(
                warehouse.sql("upsert_touched_sessions"),
                {"close_before": close_before, "updated_at": warehouse.ts(now)},
            ).rowcount
            # Start days after the rebuild: a late event can move a session's start earlier.
            for day in _touched_days(conn, warehouse, websites, "select_touched_session_start_days", params):
                dirty.setdefault(day, 0)
            mark_dirty(conn, warehouse, dirty, now)
            result.dirty_days = dirty
            conn.execute(warehouse.sql("upsert_pipeline_state"),
                         {"key": WATERMARK_KEY, "value": str(upto), "updated_at": warehouse.ts(now)})
        result.sessions_closed = conn.execute(
            warehouse.sql("close_inactive_sessions"),
            {"close_before": close_before, "updated_at": warehouse.ts(now)},
        ).rowcount
    result.seconds = time.perf_counter() - started
    return result


def close_inactive_sessions(warehouse: Warehouse, *, timeout_minutes: int, now: datetime | None = None) -> int:
    """Only the seed's cleanup step (no new events taken in)."""
    now = now or datetime.now(timezone.utc)
    return warehouse.run(
        "close_inactive_sessions",
        {"close_before": warehouse.ts(now - timedelta(minutes=timeout_minutes)), "updated_at": warehouse.ts(now)},
    )


def overdue_open_sessions(warehouse: Warehouse, *, timeout_minutes: int, now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    rows = warehouse.query("count_overdue_open_sessions",
                           {"close_before": warehouse.ts(now - timedelta(minutes=timeout_minutes))})
    return int(next(iter(rows[0].values())))
