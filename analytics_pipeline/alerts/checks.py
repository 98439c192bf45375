"""Turning warehouse state and failed runs into :class:`Alert`s (no Dagster imports).

- metric alerts: the rules evaluated over ``daily_stats`` for one day;
- freshness: the daily aggregation is more than ``max_lag`` behind (the end of the latest
  ``daily_stats`` day is longer ago than that while newer events are waiting);
- warehouse size: the database is larger than the configured limit;
- job failure: a failed run, its failed steps and error, with a link to it in the UI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from analytics_pipeline.alerts.evaluate import Evaluation, Firing, evaluate, window_start
from analytics_pipeline.alerts.history import Alert
from analytics_pipeline.alerts.rules import ALL_WEBSITES, AlertRule
from analytics_pipeline.warehouse import Warehouse

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4,
          "tib": 1024**4}


def parse_size(value: str | int) -> int:
    """Bytes from ``10737418240``, ``10GB`` (10^9 multiples) or ``10GiB`` (2^30)."""
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value))
    unit = (match.group(2) or "").lower() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"expected a size like 10GB, 500MiB or a number of bytes, got {value!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1000
    return f"{size} TB"


# -- metric rules -----------------------------------------------------------------------------

def stats_window(warehouse: Warehouse, first_day: date, last_day: date) -> list[dict[str, Any]]:
    rows = warehouse.query("select_alert_daily_stats_window",
                           {"first_day": warehouse.day(first_day), "last_day": warehouse.day(last_day)})
    for row in rows:
        row["date"] = Warehouse.to_date(row["date"])
    return rows


def firing_alert(firing: Firing) -> Alert:
    rule = firing.rule
    where = "all websites" if firing.website == ALL_WEBSITES else firing.website
    fields = {"rule": rule.name, "website": where, "day": firing.day.isoformat(),
              "metric": rule.metric, "value": f"{firing.value:g}", "condition": rule.describe()}
    if firing.baseline is not None:
        fields["baseline"] = f"{firing.baseline:g}"
    if firing.score is not None:
        fields["z_score" if rule.condition == "anomaly" else "change_pct"] = f"{firing.score:.2f}"
    if rule.file:
        fields["rule_file"] = rule.file
    return Alert(
        kind="metric", rule=rule.name, alert_key=firing.alert_key, severity=rule.severity,
        title=f"{rule.name}: {rule.metric} on {where} ({firing.day})",
        message=firing.message + (f"\n{rule.description}" if rule.description else ""),
        website=firing.website, day=firing.day, value=firing.value, threshold=rule.threshold,
        fields=fields,
    )


def evaluate_day(warehouse: Warehouse, rules: Sequence[AlertRule], day: date) -> Evaluation:
    """The rules over the warehouse's daily statistics for ``day``."""
    if not rules:
        return Evaluation()
    rows = stats_window(warehouse, window_start(rules, day), day)
    return evaluate(rules, rows, day)


# -- health -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Freshness:
    latest_day: date | None
    hours_behind: float | None  # since the end of the latest aggregated day
    events_waiting: bool


def freshness(warehouse: Warehouse, now: datetime) -> Freshness:
    rows = warehouse.query("select_alert_latest_stats_day")
    latest = Warehouse.to_date(rows[0]["latest_day"]) if rows else None
    since = (datetime.combine(latest + timedelta(days=1), time(0), tzinfo=timezone.utc)
             if latest else datetime(1970, 1, 1, tzinfo=timezone.utc))
    waiting = warehouse.query("select_alert_events_waiting",
                              {"since": warehouse.ts(since), "until": warehouse.ts(now)})
    hours = (now - since).total_seconds() / 3600 if latest else None
    return Freshness(latest, hours, bool(waiting and waiting[0]["waiting"]))


def freshness_alert(state: Freshness, max_lag_hours: float) -> Alert | None:
    """An alert when events newer than the latest aggregated day wait for more than
    ``max_lag_hours`` past that day's end (no alert while nothing is waiting)."""
    if not state.events_waiting:
        return None
    if state.latest_day is not None and state.hours_behind is not None and state.hours_behind <= max_lag_hours:
        return None
    if state.latest_day is None:
        message = "Events are loaded but no daily statistics have been computed yet."
    else:
        message = (f"The latest daily statistics are for {state.latest_day}; that day ended "
                   f"{state.hours_behind:.1f} hours ago and newer events are waiting "
                   f"(limit {max_lag_hours:g} hours). Check daily_stats_job and its schedule.")
    return Alert(
        kind="freshness", rule="aggregation_behind", alert_key="health:aggregation_behind",
        severity="critical", title="Daily aggregation is behind", message=message,
        day=state.latest_day, value=round(state.hours_behind, 2) if state.hours_behind is not None else None,
        threshold=max_lag_hours,
        fields={"latest_day": str(state.latest_day or "none"),
                "hours_behind": f"{state.hours_behind:.1f}" if state.hours_behind is not None else "n/a"},
    )


def warehouse_bytes(warehouse: Warehouse) -> int:
    return int(warehouse.query("select_alert_warehouse_size")[0]["bytes"])


def warehouse_size_alert(size: int, max_bytes: int, url: str) -> Alert | None:
    if size <= max_bytes:
        return None
    return Alert(
        kind="warehouse_size", rule="warehouse_size", alert_key="health:warehouse_size",
        severity="warning", title="Analytics warehouse is large",
        message=(f"The warehouse holds {human_size(size)}, more than the configured "
                 f"{human_size(max_bytes)}. Consider retention (ANALYTICS_RETENTION_DAYS)."),
        value=float(size), threshold=float(max_bytes),
        fields={"size_bytes": str(size), "limit_bytes": str(max_bytes), "warehouse": url},
    )


def code_location_alert(problems: Sequence[str]) -> Alert | None:
    """An alert when runs in progress were started by a code server that no longer answers
    (each problem is one line from ``alerts.status.unreachable_code_servers``)."""
    if not problems:
        return None
    return Alert(
        kind="code_location", rule="code_location_unreachable", alert_key="health:code_location_unreachable",
        severity="critical", title="A code server stopped answering",
        message=" ".join(problems),
        value=float(len(problems)), threshold=0.0,
        fields={"problems": str(len(problems))},
    )


# -- job failures -----------------------------------------------------------------------------

def root_error_line(error: Any) -> str:
    """First line of the innermost cause of a Dagster ``SerializableErrorInfo`` (the user's
    exception, e.g. ``ConnectionError: ...``, rather than Dagster's step-error wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (getattr(error, "message", "") or "").strip()
    return message.splitlines()[0] if message else getattr(error, "cls_name", None) or "unknown error"


def job_failure_alert(*, job_name: str, run_id: str, failed_steps: Sequence[str], error: str,
                      link: str | None, owner: str | None, failed_at: datetime,
                      headline: str | None = None) -> Alert:
    """``error``: the full error text; ``headline``: its one-line summary (default: first line)."""
    steps = ", ".join(failed_steps) if failed_steps else "(no step failed: the run itself failed)"
    first_line = headline or (error.strip().splitlines()[0] if error.strip() else "no error message")
    return Alert(
        kind="job_failure", rule=f"job_failed:{job_name}", alert_key=f"run:{run_id}",
        severity="critical", title=f"Job {job_name} failed",
        message=f"Run {run_id[:8]} of {job_name} failed in step {steps}: {first_line}"
                + (f"\n\n{error.strip()[:4000]}" if error.strip() and error.strip() != first_line else ""),
        day=failed_at.date(), run_id=run_id, link=link,
        fields={"job": job_name, "run_id": run_id, "failed_step": steps,
                "error": first_line[:500], "owner": owner or "(default route)"},
    )
