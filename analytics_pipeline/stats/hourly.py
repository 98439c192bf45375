"""Hourly statistics (``hourly_stats``): per website and UTC hour, pageviews, custom events and
exact distinct visitors and sessions of that hour. A range of hours is rebuilt by one
``DELETE`` and one grouped ``INSERT ... SELECT`` in one transaction, which also clears the
range's late-data marks (``hourly_stats_dirty``, written by the sessions asset)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from analytics_pipeline.warehouse import Warehouse

HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster's hourly partition keys
COLUMNS = ("total_pageviews", "total_custom_events", "unique_visitors", "unique_sessions")


def hour_from_key(key: str) -> datetime:
    return datetime.strptime(key, HOUR_KEY_FORMAT).replace(tzinfo=timezone.utc)


def hour_key(hour: datetime) -> str:
    return hour.astimezone(timezone.utc).strftime(HOUR_KEY_FORMAT)


def previous_hour_key(scheduled: datetime) -> str:
    """The hour that ended at or before ``scheduled`` (a 10:05 tick -> 09:00)."""
    moment = scheduled.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return hour_key(moment - timedelta(hours=1))


def build_hours(warehouse: Warehouse, start: datetime, end: datetime, *, now: datetime | None = None) -> int:
    """(Re)compute every hour in ``[start, end)`` for all websites; rows written."""
    now = now or datetime.now(timezone.utc)
    params = {"start": warehouse.ts(start), "end": warehouse.ts(end)}
    with warehouse.begin() as conn:
        conn.execute(warehouse.sql("clear_hourly_stats_dirty_range"), params)
        conn.execute(warehouse.sql("delete_hourly_stats_range"), params)
        return conn.execute(warehouse.sql("insert_hourly_stats"),
                            {**params, "computed_at": warehouse.ts(now)}).rowcount


def read_hours(warehouse: Warehouse, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Stored rows of ``[start, end)`` with ``hour_start`` as an aware UTC datetime."""
    rows = warehouse.query("select_hourly_stats", {"start": warehouse.ts(start), "end": warehouse.ts(end)})
    return [{**r, "hour_start": Warehouse.to_datetime(r["hour_start"]),
             **{c: int(r[c]) for c in COLUMNS}} for r in rows]


def dirty_hours(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Late-data marks: ``[{"hour_start": datetime, "events": n, "marked_at": ...}]``."""
    return [{**r, "hour_start": Warehouse.to_datetime(r["hour_start"])}
            for r in warehouse.query("select_hourly_stats_dirty")]
