"""Metric definition files (``ANALYTICS_METRICS_DIR``, one YAML file per metric), validated.

A metric's value per website, day and combination of dimension values is either

- a ``formula`` over event counts: ``(UserCompletedCourse / UserEnrolled) * 100``, where a name
  is ``pageview``, a custom ``event_name``, or a named count declared under ``counts``; or
- an ``aggregation``: ``{function: count|sum|avg|min|max|count_distinct, field: ...}`` over the
  events that pass ``filters``.

A broken file is reported (file, field, problem) and skipped; the other files load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics_pipeline.config_files import FileProblem, YamlFileError, read_yaml
from analytics_pipeline.metrics import formula as formula_lang

EVENT_FIELDS = ("event_type", "event_name", "url_path", "referrer", "visitor_id", "session_id")
FUNCTIONS = ("count", "sum", "avg", "min", "max", "count_distinct")
NUMERIC_FUNCTIONS = ("sum", "avg", "min", "max")
OPERATORS = ("=", "!=", "in", "exists")
TYPES = ("counter", "gauge")
DEFAULT_DIMENSION_LIMIT = 50
MAX_DIMENSION_LIMIT = 10_000
MAX_DIMENSIONS = 3
NONE_LABEL = "(none)"
OTHER_LABEL = "(other)"
_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_KNOWN_KEYS = {"name", "description", "type", "unit", "formula", "aggregation", "counts", "filters",
               "dimensions", "dimension_limit", "schedule"}


@dataclass(frozen=True)
class FieldRef:
    """An event field (``event_name``) or a property (``properties.courseId``)."""

    path: str

    @property
    def is_property(self) -> bool:
        return self.path.startswith("properties.")

    @property
    def key(self) -> str:
        """The property key (everything after ``properties.``), or the column name."""
        return self.path[len("properties."):] if self.is_property else self.path


@dataclass(frozen=True)
class Filter:
    field: FieldRef
    op: str
    values: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.op == "exists":
            return f"{self.field.path} exists"
        if self.op == "in":
            return f"{self.field.path} in {json.dumps(list(self.values))}"
        return f"{self.field.path} {self.op} {json.dumps(self.values[0])}"


@dataclass(frozen=True)
class NamedCount:
    """A name usable in the formula: events of ``event`` (``pageview`` or an event_name) that
    also pass ``filters``."""

    name: str
    event: str
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    description: str
    type: str
    unit: str
    source: str
    formula: str | None = None
    function: str = "count"
    field: FieldRef | None = None
    counts: tuple[NamedCount, ...] = ()
    filters: tuple[Filter, ...] = ()
    dimensions: tuple[FieldRef, ...] = ()
    dimension_limit: int = DEFAULT_DIMENSION_LIMIT

    @property
    def tree(self) -> formula_lang.Node | None:
        return formula_lang.parse(self.formula) if self.formula is not None else None

    def count_for(self, name: str) -> NamedCount:
        """What a formula name counts: a declared named count, else events of that name."""
        for named in self.counts:
            if named.name == name:
                return named
        return NamedCount(name, name)

    def formula_counts(self) -> list[NamedCount]:
        return [self.count_for(n) for n in formula_lang.names(self.tree)] if self.formula else []

    @property
    def kind(self) -> str:
        return "formula" if self.formula is not None else self.function

    def describe(self) -> str:
        if self.formula is not None:
            what = f"formula {self.formula}"
        elif self.field is None:
            what = "count of events"
        else:
            what = f"{self.function}({self.field.path})"
        parts = [what]
        if self.filters:
            parts.append("where " + " and ".join(f.describe() for f in self.filters))
        if self.dimensions:
            parts.append("by " + ", ".join(d.path for d in self.dimensions)
                         + f" (top {self.dimension_limit} + (other))")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the serving API and metadata)."""
        return {
            "name": self.name, "description": self.description, "type": self.type, "unit": self.unit,
            "formula": self.formula, "aggregation": None if self.formula is not None else
            {"function": self.function, "field": self.field.path if self.field else None},
            "filters": [f.describe() for f in self.filters],
            "dimensions": [d.path for d in self.dimensions], "dimension_limit": self.dimension_limit,
            "source": self.source, "summary": self.describe(),
        }


@dataclass
class MetricSet:
    directory: Path
    metrics: list[MetricDefinition] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    def by_name(self) -> dict[str, MetricDefinition]:
        return {m.name: m for m in self.metrics}


class _Problems(Exception):
    pass


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[FileProblem] = []

    def err(self, where: str, problem: str) -> None:
        self.problems.append(FileProblem(self.file, where, problem))

    def field_ref(self, value: Any, where: str, *, allow: tuple[str, ...] = EVENT_FIELDS) -> FieldRef | None:
        if not isinstance(value, str) or not value:
            self.err(where, f"expected a field name ({', '.join(allow)}) or properties.<key>, got {value!r}")
            return None
        if value.startswith("properties."):
            key = value[len("properties."):]
            if not key or '"' in key or "\\" in key or "\x00" in key or len(key) > 200:
                self.err(where, f"property key {key!r} must be 1-200 characters without '\"' or '\\'")
                return None
            return FieldRef(value)
        if value not in allow:
            self.err(where, f"unknown field {value!r}; use one of {', '.join(allow)} or properties.<key>")
            return None
        return FieldRef(value)

    def filters(self, raw: Any, where: str) -> tuple[Filter, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.err(where, "expected a list of {field, op, value} entries")
            return ()
        out = []
        for i, item in enumerate(raw):
            label = f"{where}[{i}]"
            if not isinstance(item, dict):
                self.err(label, "expected a mapping with field, op and value (or values)")
                continue
            ref = self.field_ref(item.get("field"), f"{label}.field")
            op = item.get("op", "=")
            if op not in OPERATORS:
                self.err(f"{label}.op", f"{op!r} is not one of {', '.join(OPERATORS)}")
                continue
            if ref is None:
                continue
            if op == "exists":
                out.append(Filter(ref, op))
                continue
            values = item.get("values", item.get("value")) if op == "in" else item.get("value")
            if op == "in":
                if not isinstance(values, list) or not values:
                    self.err(f"{label}.values", "'in' needs a non-empty list of values")
                    continue
            else:
                if "value" not in item:
                    self.err(f"{label}.value", f"'{op}' needs a value")
                    continue
                values = [values]
            bad = [v for v in values if not self._scalar_ok(v, ref)]
            if bad:
                kinds = "text" if not ref.is_property else "text, numbers or true/false"
                self.err(f"{label}.value", f"{bad[0]!r} cannot be compared with {ref.path} (use {kinds})")
                continue
            out.append(Filter(ref, op, tuple(values)))
        return tuple(out)

    @staticmethod
    def _scalar_ok(value: Any, ref: FieldRef) -> bool:
        if isinstance(value, str):
            return "\x00" not in value
        if ref.is_property and isinstance(value, bool):
            return True
        return ref.is_property and isinstance(value, int | float) and value == value and abs(value) != float("inf")


def _text(raw: dict, key: str, parser: _Parser, *, required: bool, default: str = "") -> str:
    value = raw.get(key, default)
    if value is None and not required:
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        parser.err(key, "missing" if key not in raw else f"expected text, got {value!r}")
        return default
    return value


def parse_metric(raw: Any, file: str) -> tuple[MetricDefinition | None, list[FileProblem]]:
    """One metric from the parsed YAML of ``file``, or None and the problems found."""
    p = _Parser(file)
    if not isinstance(raw, dict):
        p.err("file", "expected a mapping with name, type, unit and a formula or an aggregation")
        return None, p.problems
    for key in sorted(set(map(str, raw)) - _KNOWN_KEYS):
        p.err(key, f"unknown field; known fields are {', '.join(sorted(_KNOWN_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        p.err("name", f"{name!r} must be lower-case letters, digits and '_' (1-63, starting with a letter)")
    description = _text(raw, "description", p, required=False)
    mtype = raw.get("type", "gauge")
    if mtype not in TYPES:
        p.err("type", f"{mtype!r} is not one of {', '.join(TYPES)}")
    unit = _text(raw, "unit", p, required=False, default="")
    counts: list[NamedCount] = []
    raw_counts = raw.get("counts") or {}
    if not isinstance(raw_counts, dict):
        p.err("counts", "expected a mapping of name -> {event, filters}")
        raw_counts = {}
    for cname, spec in raw_counts.items():
        where = f"counts.{cname}"
        if not isinstance(cname, str) or not formula_lang._NAME.fullmatch(cname):
            p.err(where, "a count's name must be a plain name (letters, digits, '_')")
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("event"), str) or not spec["event"]:
            p.err(f"{where}.event", "expected {event: <pageview or event_name>, filters: [...]}")
            continue
        counts.append(NamedCount(cname, spec["event"], p.filters(spec.get("filters"), f"{where}.filters")))
    formula_text = raw.get("formula")
    aggregation = raw.get("aggregation")
    function, ref = "count", None
    if formula_text is not None and aggregation is not None:
        p.err("aggregation", "give either a formula (combined exactly from its event counts) or an "
                             "aggregation, not both")
    elif formula_text is not None:
        try:
            tree = formula_lang.parse(formula_text)
            if formula_text.strip() and not formula_lang.names(tree):
                p.err("formula", "uses no event counts (a constant is not a metric)")
        except formula_lang.FormulaError as exc:
            p.err("formula", str(exc))
    elif aggregation is not None:
        if isinstance(aggregation, str):
            aggregation = {"function": aggregation}
        if not isinstance(aggregation, dict):
            p.err("aggregation", "expected {function: ..., field: ...} or a function name")
        else:
            function = aggregation.get("function")
            if function not in FUNCTIONS:
                p.err("aggregation.function", f"{function!r} is not one of {', '.join(FUNCTIONS)}")
            elif aggregation.get("field") is not None:
                ref = p.field_ref(aggregation["field"], "aggregation.field")
                if ref is not None and function in NUMERIC_FUNCTIONS and not ref.is_property:
                    p.err("aggregation.field", f"{function} needs a numeric properties.<key>; "
                                               f"{ref.path} is text")
            elif function != "count":
                p.err("aggregation.field", f"{function} needs a field")
    else:
        p.err("formula", "missing: give a formula over event counts or an aggregation")
    filters = p.filters(raw.get("filters"), "filters")
    dims_raw = raw.get("dimensions") or []
    dims: list[FieldRef] = []
    if not isinstance(dims_raw, list):
        p.err("dimensions", "expected a list of fields or properties.<key>")
    elif len(dims_raw) > MAX_DIMENSIONS:
        p.err("dimensions", f"at most {MAX_DIMENSIONS} dimensions")
    else:
        for i, d in enumerate(dims_raw):
            ref_d = p.field_ref(d, f"dimensions[{i}]")
            if ref_d is not None:
                if ref_d in dims:
                    p.err(f"dimensions[{i}]", f"{ref_d.path} is listed twice")
                dims.append(ref_d)
    limit = raw.get("dimension_limit", DEFAULT_DIMENSION_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_DIMENSION_LIMIT:
        p.err("dimension_limit", f"{limit!r} must be a whole number from 1 to {MAX_DIMENSION_LIMIT}")
    if p.problems:
        return None, p.problems
    return MetricDefinition(
        name=name, description=description, type=mtype, unit=unit, source=file, formula=formula_text,
        function=function, field=ref, counts=tuple(counts), filters=filters, dimensions=tuple(dims),
        dimension_limit=limit,
    ), []


def load_metrics(directory: Path) -> MetricSet:
    """Every ``*.yaml``/``*.yml`` file in ``directory``, validated; a missing directory is empty."""
    directory = Path(directory)
    out = MetricSet(directory)
    if not directory.is_dir():
        return out
    seen: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            raw = read_yaml(path)
        except YamlFileError as exc:
            where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
            out.problems.append(FileProblem(path.name, "file", f"not readable YAML: {exc.problem}{where}"))
            continue
        metric, problems = parse_metric(raw, path.name)
        if metric is not None and metric.name in seen:
            problems = [FileProblem(path.name, "name", f"{metric.name!r} is already defined by {seen[metric.name]}")]
            metric = None
        out.problems.extend(problems)
        if metric is not None:
            seen[metric.name] = path.name
            out.metrics.append(metric)
    return out
