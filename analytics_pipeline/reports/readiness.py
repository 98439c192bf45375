"""Is a report's period ready? Its statistics must be final before it is e-mailed as complete.

A report period is ready when every statistics partition it reads for that period

1. has been materialized,
2. passed the data-quality checks of the run that materialized it, and
3. has no ``stats_dirty`` mark (events arrived after it was built, or a website's local day had not
   ended yet when it was built) for the period's days, weeks or months.

:func:`required_partitions` says what a period reads; :func:`readiness_problems` turns what the
instance and the warehouse know into the reasons a reader sees ("data incomplete: ..."). Only
periods that have ended are required: a period still in progress is labelled as such anyway.
No Dagster import here: the asset gathers the facts and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from analytics_pipeline.partitions import period_end
from analytics_pipeline.reports.templates import ReportTemplate
from analytics_pipeline.warehouse import Warehouse

STATS_ASSET = {"day": "daily_stats", "week": "weekly_stats", "month": "monthly_stats"}


def required_partitions(template: ReportTemplate, start: date, today: date) -> dict[str, list[str]]:
    """``{stats asset: [partition keys]}`` the report of ``start`` reads for its own period, up
    to the last period that ended before ``today``."""
    grain = template.grain
    end = period_end(grain, start)
    out: dict[str, list[str]] = {}
    if grain == "quarter":
        months, month = [], start
        while month < end:
            if period_end("month", month) <= today:
                months.append(month.isoformat())
            month = period_end("month", month)
        out["monthly_stats"] = months
        return out
    if end <= today:
        out[STATS_ASSET[grain]] = [start.isoformat()]
    if "trend" in template.sections and grain in ("week", "month"):
        out["daily_stats"] = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)
                              if start + timedelta(days=i + 1) <= today]
    return out


def dirty_periods(warehouse: Warehouse) -> set[tuple[str, str]]:
    """``(grain, period_start)`` of every ``stats_dirty`` mark."""
    return {(row["grain"], Warehouse.to_date(row["period_start"]).isoformat())
            for row in warehouse.query("select_stats_dirty")}


def _grain_of(asset: str) -> str:
    return {v: k for k, v in STATS_ASSET.items()}[asset]


def readiness_problems(
    required: Mapping[str, Iterable[str]],
    materialized: Mapping[str, set[str]],
    failed_checks: Mapping[str, Mapping[str, list[str]]],
    dirty: set[tuple[str, str]],
) -> list[str]:
    """Reasons the period is not ready, one per asset and kind (empty: ready).

    ``materialized[asset]``: its materialized partition keys; ``failed_checks[asset][partition]``:
    names of the checks that failed in the run that last materialized it; ``dirty``: the marks.
    """
    problems: list[str] = []
    for asset, keys in required.items():
        keys = list(keys)
        missing = [k for k in keys if k not in materialized.get(asset, set())]
        if missing:
            problems.append(f"{asset} not built for {_span(missing)}")
        failing = {k: c for k, c in failed_checks.get(asset, {}).items() if k in keys and c}
        if failing:
            names = sorted({n for c in failing.values() for n in c})
            problems.append(f"{asset} check {', '.join(names)} failed for {_span(sorted(failing))}")
        stale = [k for k in keys if (_grain_of(asset), k) in dirty]
        if stale:
            problems.append(f"{asset} waiting for late or unfinished data for {_span(stale)}")
    return problems


def _span(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{len(keys)} periods ({keys[0]} .. {keys[-1]})"

