"""Evaluating metric alert rules over daily statistics rows. Pure: no database, no clock.

Values per website and day come from ``daily_stats`` rows. For count metrics a day without a
row is a day without events, so its value is 0 (from the website's first day with data in the
window on, so a new website's earlier days do not count as history); the session ratios
(``bounce_rate``, ``avg_session_duration_seconds``) have no value on such a day. Combined over
all websites (``website: all``), counts add up and the ratios are weighted by sessions_started.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics_pipeline.alerts.rules import ALL_WEBSITES, EACH_WEBSITE, WEIGHTED_COLUMNS, AlertRule


@dataclass(frozen=True)
class Firing:
    """A rule whose condition holds for one website (or all combined) on one day."""

    rule: AlertRule
    website: str
    day: date
    value: float
    baseline: float | None  # previous day (change_pct), trailing mean (anomaly)
    score: float | None  # % change (change_pct), z-score (anomaly)
    message: str

    @property
    def alert_key(self) -> str:
        """Cooldown identity: one rule on one website (the day does not matter: a spike that
        lasts three days is one alert per cooldown)."""
        return f"metric:{self.rule.name}:{self.website}"

    @property
    def threshold(self) -> float:
        return self.rule.threshold


@dataclass
class Evaluation:
    firings: list[Firing] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)  # why a rule had no verdict
    checked: int = 0  # (rule, website) pairs with a verdict


def window_start(rules: Iterable[AlertRule], day: date) -> date:
    """First day of statistics the rules need to evaluate ``day``."""
    days = max((r.window_days for r in rules if r.condition == "anomaly"), default=1)
    return day - timedelta(days=max(days, 1))


def _number(value: Any) -> float:
    return float(value) if value is not None else 0.0


def metric_value(row: Mapping[str, Any], metric: str) -> float:
    """The value of ``metric`` in one daily_stats row (``events_by_type.<name>``: that count)."""
    if metric.startswith("events_by_type."):
        by_type = row.get("events_by_type") or {}
        if isinstance(by_type, str):
            by_type = json.loads(by_type)
        return _number(by_type.get(metric.partition(".")[2]))
    return _number(row.get(metric))


def _combined(rows: Sequence[Mapping[str, Any]], metric: str) -> float:
    if metric in WEIGHTED_COLUMNS:
        weights = [_number(r.get("sessions_started")) for r in rows]
        total = sum(weights)
        if total == 0:
            return 0.0
        return sum(metric_value(r, metric) * w for r, w in zip(rows, weights)) / total
    return sum(metric_value(r, metric) for r in rows)


def series(rows: Iterable[Mapping[str, Any]], rule: AlertRule) -> dict[str, dict[date, float]]:
    """``{website: {day: value}}`` of the rule's metric, for the websites the rule covers."""
    by_website: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_website[str(row["website_id"])].append(row)
    if rule.website == ALL_WEBSITES:
        by_day: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
        for row in (r for rs in by_website.values() for r in rs):
            by_day[_as_date(row["date"])].append(row)
        return {ALL_WEBSITES: {d: _combined(rs, rule.metric) for d, rs in by_day.items()}}
    if rule.website != EACH_WEBSITE:
        by_website = {rule.website: by_website.get(rule.website, [])}
    return {
        site: {_as_date(r["date"]): metric_value(r, rule.metric) for r in site_rows}
        for site, site_rows in sorted(by_website.items())
    }


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _value_on(values: Mapping[date, float], day: date, first_day: date | None, ratio: bool) -> float | None:
    if day in values:
        return values[day]
    if ratio or first_day is None or day < first_day:
        return None
    return 0.0


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "infinite"
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:,.4g}"


def _direction_ok(direction: str, signed: float) -> bool:
    return {"up": signed > 0, "down": signed < 0, "both": signed != 0}[direction]


def evaluate_rule(rule: AlertRule, rows: Sequence[Mapping[str, Any]], day: date) -> Evaluation:
    """Whether ``rule`` fires on ``day``, per website it covers. ``rows`` must include the
    rule's trailing window (see :func:`window_start`)."""
    out = Evaluation()
    ratio = rule.metric in WEIGHTED_COLUMNS or rule.metric_is_gauge
    data = series(rows, rule)
    if not any(data.values()) and rule.website not in (EACH_WEBSITE,):
        out.not_evaluated.append(f"{rule.name}: no statistics for website {rule.website!r}")
        return out
    for website, values in data.items():
        first_day = min(values) if values else None
        value = _value_on(values, day, first_day, ratio)
        label = f"{rule.name} on {website} {day}"
        if value is None:
            out.not_evaluated.append(f"{label}: no {rule.metric} on that day")
            continue
        subject = f"{rule.metric} of {'all websites' if website == ALL_WEBSITES else website} on {day}"
        firing: Firing | None = None
        if rule.condition in ("above", "below"):
            out.checked += 1
            hit = value > rule.threshold if rule.condition == "above" else value < rule.threshold
            if hit:
                firing = Firing(rule, website, day, value, None, None,
                                f"{subject} is {_fmt(value)}, {rule.condition} the threshold {_fmt(rule.threshold)}")
        elif rule.condition == "change_pct":
            previous = _value_on(values, day - timedelta(days=1), first_day, ratio)
            if previous is None or previous == 0:
                out.not_evaluated.append(f"{label}: previous day has no {rule.metric} to compare with")
                continue
            out.checked += 1
            pct = (value - previous) / abs(previous) * 100.0
            if abs(pct) >= rule.threshold and _direction_ok(rule.direction, pct):
                word = "rose" if pct > 0 else "fell"
                firing = Firing(rule, website, day, value, previous, pct,
                                f"{subject} {word} {abs(pct):.1f}% from {_fmt(previous)} to {_fmt(value)} "
                                f"(threshold {rule.threshold:g}%)")
        else:
            history = [
                v for d in (day - timedelta(days=i) for i in range(1, rule.window_days + 1))
                if (v := _value_on(values, d, first_day, ratio)) is not None
            ]
            if len(history) < rule.min_history:
                out.not_evaluated.append(
                    f"{label}: {len(history)} day(s) of history, the anomaly check needs {rule.min_history}")
                continue
            out.checked += 1
            mean = statistics.fmean(history)
            sd = statistics.stdev(history)
            if sd == 0:
                z = 0.0 if value == mean else math.copysign(math.inf, value - mean)
            else:
                z = (value - mean) / sd
            if abs(z) >= rule.threshold and _direction_ok(rule.direction, z):
                where = "above" if z > 0 else "below"
                firing = Firing(rule, website, day, value, mean, z,
                                f"{subject} is {_fmt(value)}, {_fmt(abs(z))} standard deviations {where} "
                                f"the trailing {len(history)}-day mean {_fmt(mean)} (sd {_fmt(sd)}; "
                                f"threshold {rule.threshold:g})")
        if firing is not None:
            out.firings.append(firing)
    return out


def evaluate(rules: Iterable[AlertRule], rows: Sequence[Mapping[str, Any]], day: date) -> Evaluation:
    """Every rule over the same rows for ``day``."""
    total = Evaluation()
    for rule in rules:
        result = evaluate_rule(rule, rows, day)
        total.firings += result.firings
        total.not_evaluated += result.not_evaluated
        total.checked += result.checked
    return total
