"""Compute one metric for one day, every website, and store it in ``metric_values`` atomically.

Partition D is each website's own local day D (``websites.py``): the grouped statement of
:mod:`analytics_pipeline.metrics.compile` runs once per zone group with that zone's UTC bounds.
Python then only canonicalises dimension values (so both warehouses show the same text), applies
the cardinality cap, and evaluates formulas over the grouped counts.

Cardinality cap: per website and day, each dimension keeps its ``dimension_limit`` values with
the most matching events (ties: the value in ascending order); every other value becomes
``(other)``. A missing or null value is ``(none)``, which competes for a place like any value.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from analytics_pipeline.metrics import formula as formula_lang
from analytics_pipeline.metrics.compile import compile_metric
from analytics_pipeline.metrics.spec import NONE_LABEL, OTHER_LABEL, MetricDefinition
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites, local_day_bounds, zone_groups

VALUE_DIGITS = 9  # stored values are rounded so float summation order cannot differ by backend


@dataclass
class MetricRow:
    website_id: str
    dimensions: dict[str, str]
    value: float | None
    events: int
    inputs: dict[str, Any]


@dataclass
class DayResult:
    metric: str
    day: date
    rows: list[MetricRow] = field(default_factory=list)
    capped: dict[str, int] = field(default_factory=dict)  # dimension -> values folded into "other"
    ignored: int = 0  # non-numeric values skipped by sum/avg/min/max
    statements: int = 0
    seconds: float = 0.0


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, int | float | Decimal) else float(str(value))


def canonical(type_name: Any, raw: Any) -> str:
    """The text of one dimension value, the same on both warehouses."""
    if type_name is None or raw is None or type_name == "null":
        return NONE_LABEL
    if type_name in ("string", "text"):
        return str(raw)
    if type_name in ("true", "false"):
        return type_name
    if type_name == "boolean":
        return "true" if str(raw).lower() == "true" else "false"
    if type_name in ("integer", "real", "number"):
        value = float(raw) if not isinstance(raw, str) else float(Decimal(raw))
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    # object / array: canonical JSON
    parsed = json.loads(raw) if isinstance(raw, str) else raw
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _merge(metric: MetricDefinition, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key == "min":
            out[key] = value if out.get(key) is None else (out[key] if value is None else min(out[key], value))
        elif key == "max":
            out[key] = value if out.get(key) is None else (out[key] if value is None else max(out[key], value))
        elif key == "sum":
            out[key] = value if out.get(key) is None else (out[key] if value is None else out[key] + value)
        else:
            out[key] = out.get(key, 0) + value
    return out


def _inputs(metric: MetricDefinition, row: tuple, offset: int) -> dict[str, Any]:
    """The measures of one grouped row (after website and dimension columns)."""
    events = int(row[offset])
    rest = row[offset + 1:]
    if metric.formula is not None:
        return {"events": events, "counts": {c.name: int(n) for c, n in zip(metric.formula_counts(), rest)}}
    if metric.function == "count":
        return {"events": events, "count": int(rest[0]) if rest else events}
    if metric.function == "count_distinct":
        return {"events": events, "distinct": int(rest[0])}
    total, numeric, low, high, ignored = rest
    return {"events": events, "sum": _number(total), "count": int(numeric), "min": _number(low),
            "max": _number(high), "ignored": int(ignored)}


def _merge_inputs(metric: MetricDefinition, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if metric.formula is not None:
        counts = dict(a["counts"])
        for k, v in b["counts"].items():
            counts[k] = counts.get(k, 0) + v
        return {"events": a["events"] + b["events"], "counts": counts}
    return _merge(metric, a, b)


def value_of(metric: MetricDefinition, inputs: dict[str, Any]) -> float | None:
    """The metric's value from its (possibly combined) inputs."""
    if metric.formula is not None:
        value = formula_lang.evaluate(metric.tree, inputs["counts"])
    elif metric.function == "count":
        value = float(inputs["count"])
    elif metric.function == "count_distinct":
        value = None if inputs.get("distinct") is None else float(inputs["distinct"])
    elif metric.function == "sum":
        value = inputs["sum"] if inputs["count"] else None
    elif metric.function == "avg":
        value = inputs["sum"] / inputs["count"] if inputs["count"] else None
    else:
        value = inputs[metric.function]
    if value is None or not math.isfinite(value):
        return None
    value = round(value, VALUE_DIGITS)
    return value + 0.0  # no negative zero


def _cap(metric: MetricDefinition, groups: dict[tuple, dict[str, Any]]) -> tuple[dict[tuple, str], dict[str, int]]:
    """For one website: which dimension values survive the cap ({(index, value): label})."""
    mapping: dict[tuple, str] = {}
    capped: dict[str, int] = {}
    for index, ref in enumerate(metric.dimensions):
        volume: dict[str, int] = {}
        for dims, inputs in groups.items():
            volume[dims[index]] = volume.get(dims[index], 0) + inputs["events"]
        ranked = sorted(volume, key=lambda v: (-volume[v], v))
        keep = set(ranked[:metric.dimension_limit])
        if len(ranked) > metric.dimension_limit:
            capped[ref.path] = len(ranked) - metric.dimension_limit
        for value in ranked:
            mapping[(index, value)] = value if value in keep else OTHER_LABEL
    return mapping, capped


def _grouped(wh: Warehouse, conn: sa.Connection, metric: MetricDefinition, start: datetime, end: datetime,
             include, exclude, distinct_values: bool) -> list[tuple]:
    compiled = compile_metric(metric, wh.dialect, include=include, exclude=exclude, distinct_values=distinct_values)
    params = {**compiled.params, "start": wh.ts(start), "end": wh.ts(end)}
    return [tuple(r) for r in conn.execute(sa.text(compiled.sql), params)]


def compute_day(wh: Warehouse, metric: MetricDefinition, day: date,
                directory: WebsiteDirectory | None = None) -> DayResult:
    """The rows of ``metric`` for local day ``day`` of every website (nothing written)."""
    directory = directory or current_websites()
    started = time.perf_counter()
    result = DayResult(metric.name, day)
    n_dims = len(metric.dimensions)
    # website -> canonical dims -> inputs
    sites: dict[str, dict[tuple, dict[str, Any]]] = {}
    raw_groups: dict[str, dict[tuple, int]] = {}
    groups = zone_groups(directory)
    with wh.connect() as conn:
        for group in groups:
            start, end = local_day_bounds(group.timezone, day)
            result.statements += 1
            for row in _grouped(wh, conn, metric, start, end, group.include, group.exclude, False):
                website = row[0]
                dims = tuple(canonical(row[1 + 2 * i], row[2 + 2 * i]) for i in range(n_dims))
                inputs = _inputs(metric, row, 1 + 2 * n_dims)
                per_site = sites.setdefault(website, {})
                per_site[dims] = _merge_inputs(metric, per_site[dims], inputs) if dims in per_site else inputs
                raw_groups.setdefault(website, {})
                raw_groups[website][dims] = raw_groups[website].get(dims, 0) + 1
        mappings = {}
        needs_values: set[str] = set()
        values: dict[tuple, set] = {}
        for website, per_site in sites.items():
            mapping, capped = _cap(metric, per_site)
            mappings[website] = mapping
            for path, n in capped.items():
                result.capped[path] = result.capped.get(path, 0) + n
            merged = bool(capped) or any(n > 1 for n in raw_groups[website].values())
            if merged and metric.function == "count_distinct" and metric.formula is None:
                needs_values.add(website)
        if needs_values:
            # Distinct counts cannot be added: recount the merged groups from their values.
            for group in groups:
                start, end = local_day_bounds(group.timezone, day)
                result.statements += 1
                for row in _grouped(wh, conn, metric, start, end, group.include, group.exclude, True):
                    website = row[0]
                    if website not in needs_values:
                        continue
                    dims = tuple(canonical(row[1 + 2 * i], row[2 + 2 * i]) for i in range(n_dims))
                    mapped = tuple(mappings[website][(i, v)] for i, v in enumerate(dims))
                    values.setdefault((website, mapped), set()).add(row[1 + 2 * n_dims])
    for website in sorted(sites):
        per_site, mapping = sites[website], mappings[website]
        combined: dict[tuple, dict[str, Any]] = {}
        for dims, inputs in per_site.items():
            mapped = tuple(mapping[(i, v)] for i, v in enumerate(dims))
            combined[mapped] = _merge_inputs(metric, combined[mapped], inputs) if mapped in combined else dict(inputs)
        for mapped, inputs in sorted(combined.items()):
            if website in needs_values:
                inputs["distinct"] = len(values.get((website, mapped), set()))
            result.ignored += int(inputs.get("ignored", 0))
            dimensions = {ref.path: v for ref, v in zip(metric.dimensions, mapped)}
            result.rows.append(MetricRow(website, dimensions, value_of(metric, inputs), int(inputs["events"]),
                                         inputs))
    result.seconds = time.perf_counter() - started
    return result


def dimensions_key(dimensions: dict[str, str]) -> str:
    """The stored key of a dimension combination: canonical JSON ('{}' without dimensions)."""
    return json.dumps(dimensions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


WRITE_CHUNK = 5000  # rows per INSERT statement


def write_days(wh: Warehouse, results: list[DayResult], now: datetime | None = None) -> int:
    """Replace the stored rows of each result's metric and day, all in one transaction (a
    backfill range is replaced whole or not at all); rows go in as JSON documents, a few
    thousand per statement, so PostgreSQL needs one round trip per chunk."""
    now = now or datetime.now(timezone.utc)
    rows = [{"metric": res.metric, "website_id": r.website_id, "day": res.day.isoformat(),
             "dimensions": dimensions_key(r.dimensions), "value": r.value, "events": r.events,
             "inputs": json.dumps(r.inputs, sort_keys=True)}
            for res in results for r in res.rows]
    with wh.begin() as conn:
        for res in results:
            conn.execute(wh.sql("delete_metric_day"), {"metric": res.metric, "day": wh.day(res.day)})
        for offset in range(0, len(rows), WRITE_CHUNK):
            conn.execute(wh.sql("insert_metric_values"),
                         {"rows": json.dumps(rows[offset:offset + WRITE_CHUNK]), "computed_at": wh.ts(now)})
    return len(rows)


def write_day(wh: Warehouse, result: DayResult, now: datetime | None = None) -> int:
    """Replace the stored rows of one metric and day with ``result`` in one transaction."""
    return write_days(wh, [result], now)


def build_days(wh: Warehouse, metric: MetricDefinition, days: Iterable[date], *,
               directory: WebsiteDirectory | None = None, now: datetime | None = None,
               progress: Callable[[DayResult, int], None] | None = None) -> list[DayResult]:
    """Compute ``metric`` for each day, then store every day in one transaction (a backfill
    range in one call). ``progress(result, index)`` is called after each day is computed."""
    directory = directory or current_websites()
    out = []
    for index, day in enumerate(days, 1):
        out.append(compute_day(wh, metric, day, directory))
        if progress is not None:
            progress(out[-1], index)
    write_days(wh, out, now)
    return out
