"""Reconciliation queries behind the statistics asset checks (plain functions, no Dagster)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from analytics_pipeline.partitions import period_end
from analytics_pipeline.stats.build import GRAIN_TABLES
from analytics_pipeline.warehouse import Warehouse


def daily_mismatches(warehouse: Warehouse, first_day: date, last_day: date) -> list[dict[str, Any]]:
    """Website-days in [first_day, last_day] whose daily_stats pageview/custom counts differ
    from the events table (or exist on one side only)."""
    end_day = period_end("day", last_day)
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
