"""Metric alert rule files and notification routes: loading and validation.

A rule file (``alert_rules/*.yaml``) holds one rule, or ``rules:`` with a list of them::

    name: traffic_anomaly          # default: the file name without .yaml
    metric: total_pageviews        # a numeric daily_stats column, or events_by_type.<name>,
                                   # or metric:<name> (a metric_definitions/ file)
    dimensions:                    # metric:<name> only: keep the values of these dimensions
      properties.courseId: course-101
    website: "*"                   # a website_id; "*" = each website on its own (default);
                                   # "all" = all websites combined
    condition: anomaly             # above | below | change_pct | anomaly
    threshold: 3                   # value; % change; or |z-score|
    direction: both                # change_pct / anomaly only: up | down | both (default)
    severity: warning              # info | warning | critical
    channels: [email, webhook]     # default: the default route of routes.yaml
    cooldown: 24h                  # 90m, 6h, 2d or minutes as a number (default 24h)

``routes.yaml`` in the same directory routes job failures and health alerts by owner::

    default: [email, webhook]
    owners:
      "team:data-engineering": [email, "webhook:https://hooks.example.com/T000/B000"]

A channel target is ``email`` (the configured recipients), ``email:a@x.org,b@x.org``,
``webhook`` (the configured URL) or ``webhook:<url>``.

A broken file never raises: :func:`load_rules` returns the valid rules and one
:class:`RuleError` (file, field, problem) per problem, so one bad file cannot take the code
location down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from analytics_pipeline.config_files import FileProblem, YamlFileError, read_yaml

ROUTES_FILE = "routes.yaml"
NUMERIC_COLUMNS = (
    "total_pageviews",
    "total_custom_events",
    "unique_visitors",
    "unique_sessions",
    "sessions_started",
    "bounce_rate",
    "avg_session_duration_seconds",
)
# Combined over websites: counts add up; the session ratios are weighted by sessions_started.
WEIGHTED_COLUMNS = ("bounce_rate", "avg_session_duration_seconds")
CONDITIONS = ("above", "below", "change_pct", "anomaly")
DIRECTIONS = ("up", "down", "both")
SEVERITIES = ("info", "warning", "critical")
CHANNEL_KINDS = ("email", "webhook")
EACH_WEBSITE = "*"
ALL_WEBSITES = "all"
DEFAULT_ROUTE = ("email", "webhook")
DEFAULT_COOLDOWN = timedelta(hours=24)
KNOWN_FIELDS = {
    "name", "description", "metric", "website", "condition", "threshold", "direction",
    "severity", "channels", "cooldown", "window_days", "min_history",
}
KNOWN_FIELDS |= {"dimensions"}
METRIC_PREFIX = "metric:"
_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)?\s*")


# One problem in one rule file (file, field, problem).
RuleError = FileProblem


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str
    condition: str
    threshold: float
    website: str = EACH_WEBSITE
    direction: str = "both"
    severity: str = "warning"
    channels: tuple[str, ...] | None = None  # None: the default route
    cooldown: timedelta = DEFAULT_COOLDOWN
    window_days: int = 28
    min_history: int = 14
    description: str = ""
    file: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()  # metric:<name> rules: the dimension filter
    metric_is_gauge: bool = False  # a day without a value has none (not 0); set from the metric file

    def describe(self) -> str:
        """``total_pageviews anomaly |z| >= 3`` — the condition in words."""
        if self.condition == "above":
            return f"{self.metric} above {self.threshold:g}"
        if self.condition == "below":
            return f"{self.metric} below {self.threshold:g}"
        arrow = {"up": "rise", "down": "drop", "both": "change"}[self.direction]
        if self.condition == "change_pct":
            return f"{self.metric} day-over-day {arrow} of {self.threshold:g}% or more"
        return (f"{self.metric} {arrow} of {self.threshold:g} standard deviations or more "
                f"against the trailing {self.window_days} days")


@dataclass
class RuleSet:
    rules: list[AlertRule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    routes: Routes = field(default_factory=lambda: Routes())
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Routes:
    """Channel targets by owner (a job's ``analytics/owner`` tag), and the default route."""

    default: tuple[str, ...] = DEFAULT_ROUTE
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def for_owner(self, owner: str | None) -> tuple[str, ...]:
        if owner and owner in self.owners:
            return self.owners[owner]
        return self.default


def parse_duration(value: Any) -> timedelta:
    """``90m``, ``6h``, ``2d`` or a number of minutes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30m, 6h or 1d, got {value!r}")
    if isinstance(value, (int, float)):
        minutes = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if not match:
            raise ValueError(f"expected a duration like 30m, 6h or 1d, got {value!r}")
        number, unit = float(match.group(1)), match.group(2) or "m"
        minutes = number * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if minutes < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return timedelta(minutes=minutes)


def validate_target(target: Any) -> str:
    """A channel target as given, or ValueError saying what is wrong."""
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"a channel must be a string like 'email' or 'webhook:<url>', got {target!r}")
    kind, _, detail = target.strip().partition(":")
    if kind not in CHANNEL_KINDS:
        raise ValueError(f"unknown channel {target!r}; use one of {', '.join(CHANNEL_KINDS)} "
                         "(optionally 'email:<addresses>' or 'webhook:<url>')")
    if kind == "webhook" and detail and not detail.startswith(("http://", "https://")):
        raise ValueError(f"webhook target {target!r} must be an http(s) URL")
    if kind == "email" and detail and not all("@" in a for a in detail.split(",")):
        raise ValueError(f"email target {target!r} must list addresses separated by commas")
    return target.strip()


def _targets(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of channels, got {value!r}")
    return tuple(dict.fromkeys(validate_target(t) for t in value))


def metric_is_valid(metric: str) -> bool:
    if metric in NUMERIC_COLUMNS:
        return True
    if metric.startswith(METRIC_PREFIX):
        return bool(_METRIC_NAME.fullmatch(metric[len(METRIC_PREFIX):]))
    prefix, _, name = metric.partition(".")
    return prefix == "events_by_type" and bool(name)


def parse_rule(raw: Any, file: str, default_name: str) -> tuple[AlertRule | None, list[RuleError]]:
    """One rule from its YAML mapping: the rule, or None and every problem found."""
    if not isinstance(raw, dict):
        return None, [RuleError(file, "(rule)", f"expected a mapping of fields, got {type(raw).__name__}")]
    errors: list[RuleError] = []

    def err(field_name: str, problem: str) -> None:
        errors.append(RuleError(file, field_name, problem))

    for unknown in sorted(set(map(str, raw)) - KNOWN_FIELDS):
        err(unknown, f"unknown field; known fields: {', '.join(sorted(KNOWN_FIELDS))}")

    name = str(raw.get("name", default_name))
    if not _NAME.fullmatch(name):
        err("name", f"{name!r} must be 1-100 letters, digits or _ . : -")

    metric = raw.get("metric")
    if metric is None:
        err("metric", "missing (a numeric daily_stats column or events_by_type.<name>)")
    elif not isinstance(metric, str) or not metric_is_valid(metric):
        err("metric", f"{metric!r} is not a numeric daily_stats column; use one of "
                      f"{', '.join(NUMERIC_COLUMNS)}, events_by_type.<event name> or metric:<metric name>")

    dimensions: tuple[tuple[str, str], ...] = ()
    if "dimensions" in raw:
        dims = raw["dimensions"]
        if not isinstance(metric, str) or not metric.startswith(METRIC_PREFIX):
            err("dimensions", "only applies to metric:<name> rules")
        elif not isinstance(dims, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float))
                                                   and not isinstance(v, bool) for k, v in dims.items()):
            err("dimensions", "expected a mapping of dimension -> value, e.g. {properties.courseId: course-101}")
        else:
            dimensions = tuple(sorted((k, str(v)) for k, v in dims.items()))

    condition = raw.get("condition")
    if condition is None:
        err("condition", f"missing (one of {', '.join(CONDITIONS)})")
    elif condition not in CONDITIONS:
        err("condition", f"{condition!r} is not one of {', '.join(CONDITIONS)}")

    threshold = raw.get("threshold")
    if threshold is None:
        err("threshold", "missing (a number)")
    elif isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        err("threshold", f"must be a number, got {threshold!r}")
    elif condition in ("change_pct", "anomaly") and threshold <= 0:
        err("threshold", f"must be greater than 0 for {condition}, got {threshold!r}")

    website = raw.get("website", EACH_WEBSITE)
    if not isinstance(website, str) or not website:
        err("website", f"must be a website_id, '*' (each website) or 'all', got {website!r}")

    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        err("direction", f"{direction!r} is not one of {', '.join(DIRECTIONS)}")
    elif "direction" in raw and condition in ("above", "below"):
        err("direction", f"only applies to change_pct and anomaly, not {condition}")

    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        err("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")

    channels = None
    if "channels" in raw:
        try:
            channels = _targets(raw["channels"])
        except ValueError as exc:
            err("channels", str(exc))

    cooldown = DEFAULT_COOLDOWN
    if "cooldown" in raw:
        try:
            cooldown = parse_duration(raw["cooldown"])
        except ValueError as exc:
            err("cooldown", str(exc))

    ints: dict[str, int] = {}
    for key, default, low in (("window_days", 28, 2), ("min_history", 14, 2)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            err(key, f"must be a whole number of at least {low}, got {value!r}")
        ints[key] = value
    if not errors and ints["min_history"] > ints["window_days"]:
        err("min_history", f"{ints['min_history']} is more than window_days ({ints['window_days']})")

    if errors:
        return None, errors
    return AlertRule(
        name=name, metric=metric, condition=condition, threshold=float(threshold),
        website=website, direction=direction, severity=severity, channels=channels,
        cooldown=cooldown, window_days=ints["window_days"], min_history=ints["min_history"],
        description=str(raw.get("description", "")), file=file, dimensions=dimensions,
    ), []


def parse_routes(raw: Any, file: str) -> tuple[Routes, list[RuleError]]:
    if raw is None:
        return Routes(), []
    if not isinstance(raw, dict):
        return Routes(), [RuleError(file, "(file)", "expected a mapping with 'default' and 'owners'")]
    errors: list[RuleError] = []
    default: tuple[str, ...] = DEFAULT_ROUTE
    owners: dict[str, tuple[str, ...]] = {}
    for unknown in sorted(set(map(str, raw)) - {"default", "owners"}):
        errors.append(RuleError(file, unknown, "unknown field; known fields: default, owners"))
    if "default" in raw:
        try:
            default = _targets(raw["default"])
        except ValueError as exc:
            errors.append(RuleError(file, "default", str(exc)))
    raw_owners = raw.get("owners") or {}
    if not isinstance(raw_owners, dict):
        errors.append(RuleError(file, "owners", "expected a mapping of owner -> channels"))
        raw_owners = {}
    for owner, targets in raw_owners.items():
        try:
            owners[str(owner)] = _targets(targets)
        except ValueError as exc:
            errors.append(RuleError(file, f"owners.{owner}", str(exc)))
    return Routes(default=default, owners=owners), errors


def _read_yaml(path: Path, label: str) -> tuple[Any, list[RuleError]]:
    try:
        return read_yaml(path), []
    except YamlFileError as exc:
        if exc.unreadable:
            return None, [RuleError(label, "(file)", f"cannot be read: {exc.problem}")]
        where = f"line {exc.line}, column {exc.column}: " if exc.line else ""
        return None, [RuleError(label, "(yaml)", f"{where}{exc.problem}")]


def load_rules(rules_dir: Path) -> RuleSet:
    """Every valid rule under ``rules_dir`` (``*.yaml`` / ``*.yml``), the routes, and every
    problem found. Never raises for bad content; a missing directory means no rules."""
    result = RuleSet()
    rules_dir = Path(rules_dir)
    if not rules_dir.is_dir():
        return result
    paths = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    seen: dict[str, str] = {}
    for path in paths:
        label = path.name
        raw, errors = _read_yaml(path, label)
        result.errors += errors
        if errors:
            continue
        result.files.append(label)
        if path.name == ROUTES_FILE:
            result.routes, errors = parse_routes(raw, label)
            result.errors += errors
            continue
        if raw is None:
            result.errors.append(RuleError(label, "(file)", "is empty"))
            continue
        if isinstance(raw, dict) and "rules" in raw:
            items = raw["rules"]
            if not isinstance(items, list) or not items:
                result.errors.append(RuleError(label, "rules", "expected a non-empty list of rules"))
                continue
            extra = sorted(set(map(str, raw)) - {"rules"})
            for key in extra:
                result.errors.append(RuleError(label, key, "unknown field beside 'rules'"))
            entries = [(f"{label} rules[{i}]", item, f"{path.stem}_{i + 1}") for i, item in enumerate(items)]
        else:
            entries = [(label, raw, path.stem)]
        for where, item, default_name in entries:
            rule, errors = parse_rule(item, where, default_name)
            result.errors += errors
            if rule is None:
                continue
            if rule.name in seen:
                result.errors.append(RuleError(where, "name", f"{rule.name!r} is already defined in {seen[rule.name]}"))
                continue
            seen[rule.name] = where
            result.rules.append(rule)
    return result
