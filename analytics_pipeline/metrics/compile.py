"""Turn a metric definition into one parameterised ``SELECT`` over ``events``.

The statement is generated from the definition (its shape depends on the file's filters,
dimensions and counts), so it cannot live in a fixed ``sql/`` file; every value, property key and
JSON path is a bound parameter, and the only text spliced in comes from the fixed fragments below.
The two dialects differ only in how a property is read from JSON: :class:`SqliteJson`
(``json_type``/``json_extract``) and :class:`PostgresJson` (``jsonb_typeof``/``->``/``->>``).

The statement groups one time window of one zone group by website and dimension values and
returns, per group, ``n_events`` and the inputs of the metric (``c0..`` counts for formulas;
``agg_*`` for aggregations). :mod:`analytics_pipeline.metrics.compute` does the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from analytics_pipeline.metrics.spec import Filter, FieldRef, MetricDefinition, NamedCount


def sqlite_path(key: str) -> str:
    """The SQLite JSON path of one top-level key (quoted: any character but '"' and '\\')."""
    return '$."' + key + '"'


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return ":" + name


class SqliteJson:
    name = "sqlite"

    def __init__(self, params: _Params) -> None:
        self.params = params

    def _path(self, ref: FieldRef) -> str:
        return self.params.bind(sqlite_path(ref.key))

    def type_of(self, ref: FieldRef) -> str:
        return f"json_type(properties, {self._path(ref)})"

    def raw_value(self, ref: FieldRef) -> str:
        return f"json_extract(properties, {self._path(ref)})"

    def present(self, ref: FieldRef) -> str:
        return f"coalesce(json_type(properties, {self._path(ref)}), 'null') <> 'null'"

    def number(self, ref: FieldRef) -> str:
        path = self._path(ref)
        return f"CASE WHEN json_type(properties, {path}) IN ('integer', 'real') THEN json_extract(properties, {path}) END"

    def not_number(self, ref: FieldRef) -> str:
        return f"coalesce(json_type(properties, {self._path(ref)}), 'null') NOT IN ('null', 'integer', 'real')"

    def equals(self, ref: FieldRef, value: Any) -> str:
        path = self._path(ref)
        if isinstance(value, bool):
            return f"coalesce(json_type(properties, {path}) = '{'true' if value else 'false'}', 0)"
        if isinstance(value, str):
            return (f"coalesce(json_type(properties, {path}) = 'text' "
                    f"AND json_extract(properties, {path}) = {self.params.bind(value)}, 0)")
        return (f"coalesce(json_type(properties, {path}) IN ('integer', 'real') "
                f"AND json_extract(properties, {path}) = {self.params.bind(value)}, 0)")

    def distinct_key(self, ref: FieldRef) -> str:
        path = self._path(ref)
        return (f"CASE json_type(properties, {path}) "
                f"WHEN 'text' THEN 's:' || json_extract(properties, {path}) "
                f"WHEN 'integer' THEN 'n:' || CAST(CAST(json_extract(properties, {path}) AS REAL) AS TEXT) "
                f"WHEN 'real' THEN 'n:' || CAST(json_extract(properties, {path}) AS TEXT) "
                f"WHEN 'true' THEN 'b:true' WHEN 'false' THEN 'b:false' "
                f"WHEN 'object' THEN 'j:' || json_extract(properties, {path}) "
                f"WHEN 'array' THEN 'j:' || json_extract(properties, {path}) END")


class PostgresJson:
    name = "postgresql"

    def __init__(self, params: _Params) -> None:
        self.params = params

    def _item(self, ref: FieldRef) -> str:
        return f"(properties -> CAST({self.params.bind(ref.key)} AS text))"

    def type_of(self, ref: FieldRef) -> str:
        return f"jsonb_typeof{self._item(ref)}"

    def raw_value(self, ref: FieldRef) -> str:
        return f"(properties ->> CAST({self.params.bind(ref.key)} AS text))"

    def present(self, ref: FieldRef) -> str:
        return f"coalesce(jsonb_typeof{self._item(ref)}, 'null') <> 'null'"

    def number(self, ref: FieldRef) -> str:
        item = self._item(ref)
        return f"CASE WHEN jsonb_typeof{item} = 'number' THEN CAST({item} #>> '{{}}' AS numeric) END"

    def not_number(self, ref: FieldRef) -> str:
        return f"coalesce(jsonb_typeof{self._item(ref)}, 'null') NOT IN ('null', 'number')"

    def equals(self, ref: FieldRef, value: Any) -> str:
        # jsonb equality: same type and value (numbers compare numerically, 1 = 1.0).
        return f"coalesce({self._item(ref)} = CAST({self.params.bind(json.dumps(value))} AS jsonb), false)"

    def distinct_key(self, ref: FieldRef) -> str:
        item = self._item(ref)
        return (f"CASE jsonb_typeof{item} "
                f"WHEN 'string' THEN 's:' || ({item} #>> '{{}}') "
                f"WHEN 'number' THEN 'n:' || CAST(CAST({item} #>> '{{}}' AS float8) AS text) "
                f"WHEN 'boolean' THEN 'b:' || ({item} #>> '{{}}') "
                f"WHEN 'object' THEN 'j:' || ({item} #>> '{{}}') "
                f"WHEN 'array' THEN 'j:' || ({item} #>> '{{}}') END")


@dataclass
class CompiledQuery:
    sql: str
    params: dict[str, Any]
    dimensions: int
    counts: list[NamedCount] = field(default_factory=list)
    distinct_values: bool = False  # one row per distinct value of the field (for merging)


def _dialect(dialect: str, params: _Params) -> SqliteJson | PostgresJson:
    return SqliteJson(params) if dialect == "sqlite" else PostgresJson(params)


def _truth(dialect: str) -> str:
    return "1" if dialect == "sqlite" else "true"


def filter_condition(j: SqliteJson | PostgresJson, f: Filter) -> str:
    """A boolean SQL condition (never NULL) for one filter. ``!=`` keeps events without the field."""
    ref = f.field
    if ref.is_property:
        if f.op == "exists":
            return j.present(ref)
        eq = " OR ".join(j.equals(ref, v) for v in f.values)
        return f"NOT ({eq})" if f.op == "!=" else f"({eq})"
    col = ref.path
    if f.op == "exists":
        return f"{col} IS NOT NULL"
    if f.op == "!=":
        return f"({col} IS NULL OR {col} <> {j.params.bind(f.values[0])})"
    if f.op == "in":
        return f"{col} IN ({', '.join(j.params.bind(v) for v in f.values)})"
    return f"{col} = {j.params.bind(f.values[0])}"


def count_condition(j: SqliteJson | PostgresJson, named: NamedCount) -> str:
    if named.event == "pageview":
        parts = ["event_type = 'pageview'"]
    else:
        parts = ["event_type = 'custom'", f"event_name = {j.params.bind(named.event)}"]
    parts += [filter_condition(j, f) for f in named.filters]
    return "(" + " AND ".join(parts) + ")"


def website_condition(j: SqliteJson | PostgresJson, include: tuple[str, ...] | None, exclude: tuple[str, ...]) -> str:
    """The zone group's websites (see ``websites.ZoneGroup``)."""
    if include is not None:
        return f"website_id IN ({', '.join(j.params.bind(w) for w in include)})" if include else "1 = 0"
    if exclude:
        return f"website_id NOT IN ({', '.join(j.params.bind(w) for w in exclude)})"
    return "1 = 1"


def compile_metric(metric: MetricDefinition, dialect: str, *, include: tuple[str, ...] | None = None,
                   exclude: tuple[str, ...] = (), distinct_values: bool = False) -> CompiledQuery:
    """The grouped statement of ``metric`` for the window ``[:start, :end)`` (bound by the caller).
    ``distinct_values`` adds the aggregated field's value to the grouping (count_distinct only):
    used when groups must be merged in Python (the cardinality cap)."""
    params = _Params()
    j = _dialect(dialect, params)
    select = ["website_id"]
    for ref in metric.dimensions:
        if ref.is_property:
            select += [j.type_of(ref), j.raw_value(ref)]
        else:
            select += ["'string'", ref.path]
    group_columns = len(select)
    where = ["occurred_at >= :start", "occurred_at < :end", website_condition(j, include, exclude)]
    where += [filter_condition(j, f) for f in metric.filters]
    counts = metric.formula_counts()
    measures: list[str] = ["count(*)"]
    if metric.formula is not None:
        conditions = [count_condition(j, c) for c in counts]
        where.append("(" + " OR ".join(conditions) + ")")
        measures += [f"count(CASE WHEN {cond} THEN 1 END)" for cond in conditions]
    elif metric.function == "count":
        if metric.field is not None:
            present = j.present(metric.field) if metric.field.is_property else f"{metric.field.path} IS NOT NULL"
            measures.append(f"count(CASE WHEN {present} THEN 1 END)")
    elif metric.function == "count_distinct":
        key = j.distinct_key(metric.field) if metric.field.is_property else metric.field.path
        if distinct_values:
            select.append(key)
            group_columns += 1
            where.append(f"{key} IS NOT NULL")
        else:
            measures.append(f"count(DISTINCT {key})")
    else:
        number = j.number(metric.field)
        measures += [f"sum({number})", f"count({number})", f"min({number})", f"max({number})",
                     f"count(CASE WHEN {j.not_number(metric.field)} THEN 1 END)"]
    columns = select + measures
    sql = (
        "SELECT " + ",\n       ".join(columns)
        + "\nFROM events\nWHERE " + "\n  AND ".join(where)
        + "\nGROUP BY " + ", ".join(str(i) for i in range(1, group_columns + 1))
    )
    return CompiledQuery(sql, params.values, len(metric.dimensions), counts, distinct_values)
