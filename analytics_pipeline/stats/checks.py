"""Reconciliation queries behind the statistics asset checks (plain functions, no Dagster)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from analytics_pipeline.partitions import period_end
from analytics_pipeline.stats.build import GRAIN_TABLES
from analytics_pipeline.stats.zones import local_day_counts
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites, span_bounds


def daily_mismatches(warehouse: Warehouse, first_day: date, last_day: date,
                     websites: WebsiteDirectory | None = None) -> list[dict[str, Any]]:
    """Website-days in [first_day, last_day] whose daily_stats pageview/custom counts differ
    from the events table (or exist on one side only). Days are each website's local days."""
    end_day = period_end("day", last_day)
    websites = websites if websites is not None else current_websites()
    if not websites.all_utc:
        return _local_daily_mismatches(warehouse, websites, first_day, end_day)
    return warehouse.query(
        "select_daily_stats_mismatches",
        {
            "start": warehouse.ts(datetime.combine(first_day, time(0), tzinfo=timezone.utc)),
            "end": warehouse.ts(datetime.combine(end_day, time(0), tzinfo=timezone.utc)),
            "start_day": warehouse.day(first_day),
            "end_day": warehouse.day(end_day),
        },
    )


def period_pageview_mismatches(warehouse: Warehouse, grain: str, start: date) -> list[dict[str, Any]]:
    """Websites whose weekly/monthly pageviews differ from the sum of their days."""
    table, _ = GRAIN_TABLES[grain]
    return warehouse.query(
        "select_period_pageview_mismatches",
        {"period": warehouse.day(start), "start_day": warehouse.day(start),
         "end_day": warehouse.day(period_end(grain, start))},
        table=table,
    )


def _local_daily_mismatches(warehouse: Warehouse, websites: WebsiteDirectory, first_day: date,
                            end_day: date) -> list[dict[str, Any]]:
    """The same comparison in websites' local days: events counted per 15-minute bucket over
    the span that holds every zone's days, mapped to each website's local day in Python."""
    lo, hi = span_bounds(websites, first_day, end_day)
    rows = warehouse.query("select_event_count_buckets", {"start": warehouse.ts(lo), "end": warehouse.ts(hi)})
    events = {key: counts for key, counts in local_day_counts(websites, rows, ("pageviews", "custom_events")).items()
              if first_day <= key[1] < end_day}
    stats = {(r["website_id"], Warehouse.to_date(r["date"])): r for r in warehouse.query(
        "select_daily_stats_counts", {"start_day": warehouse.day(first_day), "end_day": warehouse.day(end_day)})}
    out = []
    for key in sorted(set(events) | set(stats)):
        ev, st = events.get(key), stats.get(key)
        ev_pv, ev_custom = (ev["pageviews"], ev["custom_events"]) if ev else (0, 0)
        st_pv = int(st["pageviews"]) if st else None
        st_custom = int(st["custom_events"]) if st else None
        if st_pv != (ev_pv if ev else None) or st_custom != (ev_custom if ev else None):
            out.append({"website_id": key[0], "day": key[1].isoformat(), "events_pageviews": ev_pv,
                        "stats_pageviews": st_pv, "events_custom": ev_custom, "stats_custom": st_custom})
    return out
