"""Reading metrics, for everything downstream (serving API, cache entries, reports, alerts).

Plain functions returning JSON-ready dicts; the API routes them as they are:

    list_metrics()                    -> {"metrics": [...definitions...], "problems": [...]}
    metric_values(warehouse, name, website=None, from_day=..., to_day=..., dimensions={...})
        -> {"metric": {...}, "from": ..., "to": ..., "website": ..., "values": [...daily rows...],
            "totals": [...one row per website and dimension combination over the range...]}

A range total is recomputed from the stored inputs (summed counts, sums and numeric counts,
min of mins, max of maxes), so a rate over a week is total completions / total enrolments,
never an average of daily rates. Distinct counts cannot be added across days: their total is
null, and ``totals_note`` says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from analytics_pipeline import settings
from analytics_pipeline.metrics.compute import _merge_inputs, value_of
from analytics_pipeline.metrics.spec import MetricDefinition, load_metrics
from analytics_pipeline.warehouse import Warehouse

ALL_WEBSITES = "all"


class UnknownMetric(LookupError):
    """No valid metric file defines this name."""


def list_metrics(metrics_dir: Path | None = None) -> dict[str, Any]:
    metric_set = load_metrics(metrics_dir or settings.metrics_dir())
    return {
        "metrics": [m.as_dict() for m in metric_set.metrics],
        "problems": [{"file": p.file, "field": p.field, "problem": p.problem} for p in metric_set.problems],
    }


def get_metric(name: str, metrics_dir: Path | None = None) -> MetricDefinition:
    metric = load_metrics(metrics_dir or settings.metrics_dir()).by_name().get(name)
    if metric is None:
        raise UnknownMetric(name)
    return metric


def _matches(dimensions: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    return not wanted or all(dimensions.get(k) == v for k, v in wanted.items())


def stored_rows(warehouse: Warehouse, name: str, from_day: date, to_day: date, *,
                website: str | None = None, dimensions: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Stored daily rows (decoded) of one metric in ``[from_day, to_day]``."""
    rows = warehouse.query("select_metric_values", {"metric": name, "from_day": warehouse.day(from_day),
                                                    "to_day": warehouse.day(to_day)})
    out = []
    for r in rows:
        dims = json.loads(r["dimensions"])
        if website not in (None, ALL_WEBSITES) and r["website_id"] != website:
            continue
        if not _matches(dims, dimensions):
            continue
        out.append({"website": r["website_id"], "day": Warehouse.to_date(r["day"]).isoformat(), "dimensions": dims,
                    "value": None if r["value"] is None else float(r["value"]), "events": int(r["events"]),
                    "inputs": json.loads(r["inputs"])})
    return out


def combine(metric: MetricDefinition, rows: list[dict[str, Any]], *, by_website: bool = True) -> list[dict[str, Any]]:
    """One total per (website, dimension combination) over the rows' days (``website`` is
    ``all`` when ``by_website`` is false)."""
    groups: dict[tuple, dict[str, Any]] = {}
    sizes: dict[tuple, int] = {}
    for r in rows:
        key = (r["website"] if by_website else ALL_WEBSITES, json.dumps(r["dimensions"], sort_keys=True))
        groups[key] = _merge_inputs(metric, groups[key], r["inputs"]) if key in groups else dict(r["inputs"])
        sizes[key] = sizes.get(key, 0) + 1
    distinct = metric.formula is None and metric.function == "count_distinct"
    return [{"website": site, "dimensions": json.loads(dims), "events": int(inputs["events"]),
             "value": None if distinct and sizes[(site, dims)] > 1 else value_of(metric, inputs)}
            for (site, dims), inputs in sorted(groups.items())]


def metric_values(warehouse: Warehouse, name: str, *, website: str | None = None, from_day: date, to_day: date,
                  dimensions: Mapping[str, str] | None = None, metrics_dir: Path | None = None) -> dict[str, Any]:
    """Daily values and range totals of metric ``name``; raises :class:`UnknownMetric`."""
    metric = get_metric(name, metrics_dir)
    if from_day > to_day:
        raise ValueError(f"from {from_day} is after to {to_day}")
    rows = stored_rows(warehouse, name, from_day, to_day, website=website, dimensions=dimensions)
    totals = combine(metric, rows, by_website=website != ALL_WEBSITES)
    answer: dict[str, Any] = {
        "metric": metric.as_dict(), "website": website or "each", "from": from_day.isoformat(),
        "to": to_day.isoformat(), "dimensionFilter": dict(dimensions or {}),
        "values": [{k: v for k, v in r.items() if k != "inputs"} for r in rows],
        "totals": totals,
    }
    if metric.formula is None and metric.function == "count_distinct":
        answer["totals_note"] = "distinct counts do not add up across days or websites: a total over more than one day is null"
    return answer


def latest_day(warehouse: Warehouse, name: str) -> date | None:
    """The last day with stored values of ``name`` (None when none)."""
    rows = warehouse.query("select_metric_latest_day", {"metric": name})
    return Warehouse.to_date(rows[0]["day"]) if rows else None
