"""The time partitions shared by statistics and reports (UTC; keys are the period's first day)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from analytics_pipeline import settings

_START = settings.start_date()
_FIRST_MONDAY = _START - timedelta(days=_START.weekday())
_FIRST_MONTH = _START.replace(day=1)
_FIRST_QUARTER = _START.replace(month=3 * ((_START.month - 1) // 3) + 1, day=1)

daily_partitions = dg.DailyPartitionsDefinition(start_date=_START.isoformat(), timezone="UTC")
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=_FIRST_MONDAY.isoformat(), day_offset=1, timezone="UTC"
)
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=_FIRST_MONTH.isoformat(), timezone="UTC")
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start=_FIRST_QUARTER.isoformat(), fmt="%Y-%m-%d", timezone="UTC"
)

# hourly_stats: UTC hours from the first day's midnight; keys look like 2024-03-01-13:00.
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=f"{_START.isoformat()}-00:00", timezone="UTC")

GRAIN_PARTITIONS = {"day": daily_partitions, "week": weekly_partitions, "month": monthly_partitions,
                    "quarter": quarterly_partitions}


def period_start(grain: str, day: date) -> date:
    """The first day of the ``grain`` period containing ``day`` (weeks start Monday)."""
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    raise ValueError(f"unknown grain {grain!r}")


def period_end(grain: str, start: date) -> date:
    """The first day after the period that starts on ``start`` (exclusive end)."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3}[grain]
    month_index = start.month - 1 + months
    return date(start.year + month_index // 12, month_index % 12 + 1, 1)


def previous_period_start(grain: str, start: date) -> date:
    return period_start(grain, start - timedelta(days=1))
