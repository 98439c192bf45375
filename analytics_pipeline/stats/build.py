"""Compute the statistics of one period in the warehouse (SPEC §3), atomically.

All aggregation runs as one ``INSERT ... SELECT`` per period in SQL; nothing is pulled into
Python. Rebuilding a period deletes and inserts its rows in one transaction and clears its
``stats_dirty`` mark, so readers see either the old or the new rows, never a mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from analytics_pipeline.partitions import period_end
from analytics_pipeline.stats.zones import group_params, window_arrays, zone_sql
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites, unfinished_zones, zone_groups

GRAIN_TABLES = {"day": ("daily_stats", "date"), "week": ("weekly_stats", "period_start"),
                "month": ("monthly_stats", "period_start")}
JSON_COLUMNS = ("top_pages", "top_referrers", "events_by_type")
STATS_COLUMNS = (
    "total_pageviews", "total_custom_events", "unique_visitors", "unique_sessions", "top_pages",
    "top_referrers", "events_by_type", "sessions_started", "bounce_rate", "avg_session_duration_seconds",
)


@dataclass
class PeriodResult:
    grain: str
    period: date
    websites: int


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def period_params(warehouse: Warehouse, grain: str, start: date) -> dict[str, Any]:
    """The bound parameters of one period's statistics SQL."""
    return {
        "start": warehouse.ts(_midnight(start)),
        "end": warehouse.ts(_midnight(period_end(grain, start))),
        "period": warehouse.day(start),
    }


def frozen_days(warehouse: Warehouse, grain: str, start: date) -> list[date]:
    """Days of the period whose raw events retention has deleted. The period's statistics are
    final: rebuilding them from the events left would replace complete numbers with partial ones."""
    rows = warehouse.query("select_retention_dropped_in_period",
                           {"start": warehouse.day(start), "end": warehouse.day(period_end(grain, start))})
    return [Warehouse.to_date(r["day"]) for r in rows]


def build_period(warehouse: Warehouse, grain: str, start: date, *, now: datetime | None = None,
                 websites: WebsiteDirectory | None = None) -> int:
    """(Re)compute the ``grain`` statistics of the period starting ``start`` for all websites;
    returns the number of website rows written (0 and nothing touched for a frozen period).

    Each website's period is its own local period (the websites file). With every website at
    UTC this is one statement over the UTC period, as it always was; otherwise each website's
    own window (SQLite: one statement per time zone; PostgreSQL: one statement for all). When some website's local period has not
    ended at ``now``, its rows hold what happened so far and the period keeps a ``stats_dirty``
    mark with the reason and the instant it ends, so the late-data sensor completes it then."""
    table, key_column = GRAIN_TABLES[grain]
    params = period_params(warehouse, grain, start)
    now = now or datetime.now(timezone.utc)
    websites = websites if websites is not None else current_websites()
    end = period_end(grain, start)
    frozen = bool(frozen_days(warehouse, grain, start))
    with warehouse.begin() as conn:
        conn.execute(warehouse.sql("clear_stats_dirty_mark"), {"grain": grain, "period": params["period"]})
        if frozen:
            return 0
        conn.execute(warehouse.sql("delete_period_stats", table=table, key_column=key_column),
                     {"period": params["period"]})
        if websites.all_utc:
            written = conn.execute(
                warehouse.sql("insert_period_stats", table=table, key_column=key_column),
                {**params, "computed_at": warehouse.ts(now)},
            ).rowcount
        elif warehouse.is_postgres:
            # One statement for every zone: the zones share each UTC day partition, and reading
            # it once per zone cost far more than the per-row window lookup.
            written = conn.execute(
                warehouse.sql("insert_local_period_stats", table=table, key_column=key_column),
                {**window_arrays(warehouse, websites, start, end), "period": params["period"],
                 "computed_at": warehouse.ts(now)},
            ).rowcount
        else:
            # SQLite reads each zone's window through the occurred_at index: one statement per zone.
            statement = zone_sql(warehouse, "insert_zone_period_stats", table=table, key_column=key_column)
            written = sum(
                conn.execute(statement, {**group_params(warehouse, group, start, end), "period": params["period"],
                                         "computed_at": warehouse.ts(now)}).rowcount
                for group in zone_groups(websites)
            )
        # With every website at UTC nothing is scheduled before its day ends; keep that path as it was.
        pending = {} if websites.all_utc else unfinished_zones(websites, start, end, now)
        if pending:
            conn.execute(warehouse.sql("mark_stats_dirty"), {
                "grain": grain, "period_start": params["period"], "events": 0, "marked_at": warehouse.ts(now),
                "reason": incomplete_reason(grain, start, pending, now),
                "not_before": warehouse.ts(max(pending.values())),
            })
        return written


def incomplete_reason(grain: str, start: date, pending: dict[str, datetime], now: datetime) -> str:
    """Why a period built at ``now`` is not final: the zones whose local period had not ended."""
    zones = ", ".join(f"{zone} until {at:%Y-%m-%dT%H:%MZ}" for zone, at in sorted(pending.items(), key=lambda kv: kv[1]))
    return (f"{GRAIN_TABLES[grain][0]} {start.isoformat()} built at {now:%Y-%m-%dT%H:%MZ} before the local "
            f"period had ended for {zones}")


def read_period(warehouse: Warehouse, grain: str, start: date) -> list[dict[str, Any]]:
    """The stored rows of one period, JSON columns decoded, ordered by website."""
    table, key_column = GRAIN_TABLES[grain]
    rows = warehouse.query("select_period_stats", {"period": warehouse.day(start)},
                           table=table, key_column=key_column)
    return [decode_row(r) for r in rows]


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stats row with JSON columns as Python objects and the period as a date, on either dialect."""
    out = dict(row)
    for col in JSON_COLUMNS:
        if isinstance(out.get(col), str):
            out[col] = json.loads(out[col])
    for col in ("date", "period_start"):
        if col in out:
            out[col] = Warehouse.to_date(out[col])
    out["bounce_rate"] = float(out["bounce_rate"])
    out["avg_session_duration_seconds"] = float(out["avg_session_duration_seconds"])
    return out
