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


def intraday(warehouse: Warehouse, start: datetime, end: datetime, website: str | None = None) -> dict[str, Any]:
    """JSON-ready hourly series of ``[start, end)`` (one point per UTC hour, hours without events
    as zeros) for one website or all combined, with pageview and custom event totals: what an
    intraday chart or "today so far" shows. Distinct visitors and sessions are per hour only
    (they do not add up across hours or websites: the combined point leaves them out)."""
    start = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    rows = [r for r in read_hours(warehouse, start, end) if website in (None, "all") or r["website_id"] == website]
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for r in rows:
        by_hour.setdefault(r["hour_start"], []).append(r)
    points = []
    hour = start
    while hour < end:
        here = by_hour.get(hour, [])
        point = {"hour": hour.strftime("%Y-%m-%dT%H:00:00Z"),
                 "pageviews": sum(r["total_pageviews"] for r in here),
                 "customEvents": sum(r["total_custom_events"] for r in here)}
        if website not in (None, "all"):
            point["uniqueVisitors"] = here[0]["unique_visitors"] if here else 0
            point["uniqueSessions"] = here[0]["unique_sessions"] if here else 0
        points.append(point)
        hour += timedelta(hours=1)
    return {"website": website or "all", "from": start.strftime("%Y-%m-%dT%H:00:00Z"),
            "to": end.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "totals": {"pageviews": sum(p["pageviews"] for p in points),
                       "customEvents": sum(p["customEvents"] for p in points)},
            "series": points}


def today_so_far(warehouse: Warehouse, now: datetime, website: str | None = None) -> dict[str, Any]:
    """:func:`intraday` from today's UTC midnight to the start of the current hour (the hours
    the minute-5 schedule has built)."""
    now = now.astimezone(timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return intraday(warehouse, midnight, now.replace(minute=0, second=0, microsecond=0), website)
