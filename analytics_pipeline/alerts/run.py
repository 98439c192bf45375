"""The alerting passes the sensors run, as plain functions: evaluate, route, send once per
cooldown, record. Each returns an :class:`Outcome` the caller logs and shows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from analytics_pipeline.alerts.channels import Notifier
from analytics_pipeline.alerts.checks import (
    code_location_alert,
    evaluate_day,
    firing_alert,
    freshness,
    freshness_alert,
    human_size,
    warehouse_bytes,
    warehouse_size_alert,
)
from analytics_pipeline.alerts.history import Alert, Delivery, send_alert
from analytics_pipeline.alerts.rules import RuleError, Routes, RuleSet
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.warehouse.engine import redact_url


@dataclass
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[tuple[Alert, Delivery]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, alert: Alert, deliveries: Iterable[Delivery]) -> None:
        self.alerts.append(alert)
        self.deliveries += [(alert, d) for d in deliveries]

    def count(self, status: str) -> int:
        return sum(1 for _, d in self.deliveries if d.status == status)

    def rows(self) -> list[dict[str, object]]:
        return [{"alert": a.title, "severity": a.severity, "to": d.destination, "status": d.status,
                 "error": d.error or ""} for a, d in self.deliveries]

    def summary(self) -> str:
        if not self.alerts:
            return "no alert fired"
        return (f"{len(self.alerts)} alert(s) fired: {self.count('sent')} sent, {self.count('failed')} failed, "
                f"{self.count('unrouted')} to unconfigured channels, {self.count('cooldown')} held by cooldown")


def alert_metrics(warehouse: Warehouse, notifier: Notifier, rule_set: RuleSet, days: Sequence[date],
                  now: datetime) -> Outcome:
    """Evaluate every valid rule for each of ``days`` and send what fires."""
    out = Outcome()
    for day in sorted(set(days)):
        evaluation = evaluate_day(warehouse, rule_set.rules, day)
        out.notes += evaluation.not_evaluated
        out.notes.append(f"{day}: {evaluation.checked} check(s), {len(evaluation.firings)} firing")
        for firing in evaluation.firings:
            alert = firing_alert(firing)
            targets = firing.rule.channels or rule_set.routes.default
            out.add(alert, send_alert(warehouse, notifier, alert, targets, cooldown=firing.rule.cooldown, now=now))
    return out


def rule_errors_alert(errors: Sequence[RuleError], rules_dir: str) -> Alert | None:
    """One alert listing every problem in the rule files (so a broken file is not silent)."""
    if not errors:
        return None
    listing = "\n".join(f"- {e}" for e in errors)
    return Alert(kind="config", rule="alert_rule_files", alert_key="config:alert_rule_files",
                 severity="warning", title=f"{len(errors)} problem(s) in alert rule files",
                 message=f"These rules are not evaluated until fixed (in {rules_dir}):\n{listing}",
                 fields={"rules_dir": rules_dir, "problems": str(len(errors))})


def alert_rule_errors(warehouse: Warehouse, notifier: Notifier, rule_set: RuleSet, rules_dir: str,
                      cooldown: timedelta, now: datetime) -> Outcome:
    out = Outcome()
    alert = rule_errors_alert(rule_set.errors, rules_dir)
    if alert is not None:
        out.add(alert, send_alert(warehouse, notifier, alert, rule_set.routes.default, cooldown=cooldown, now=now))
    return out


def alert_health(warehouse: Warehouse, notifier: Notifier, routes: Routes, *, max_lag_hours: float,
                 max_bytes: int, cooldown: timedelta, now: datetime,
                 unreachable: Sequence[str] = ()) -> Outcome:
    """The seed's recommended alerts beside job failures: aggregation behind, warehouse large;
    and runs whose code server stopped answering (``unreachable``, from the instance)."""
    out = Outcome()
    state = freshness(warehouse, now)
    if state.latest_day is None:
        out.notes.append("daily_stats is empty" + ("; events are waiting" if state.events_waiting else ""))
    else:
        out.notes.append(f"latest daily_stats day {state.latest_day}, ended {state.hours_behind:.1f} h ago; "
                         f"events waiting: {state.events_waiting} (limit {max_lag_hours:g} h)")
    size = warehouse_bytes(warehouse)
    out.notes.append(f"warehouse size {human_size(size)} (limit {human_size(max_bytes)})")
    if unreachable:
        out.notes.append(f"{len(unreachable)} code server(s) of runs in progress do not answer")
    for alert in (freshness_alert(state, max_lag_hours),
                  warehouse_size_alert(size, max_bytes, redact_url(warehouse.url)),
                  code_location_alert(unreachable)):
        if alert is not None:
            out.add(alert, send_alert(warehouse, notifier, alert, routes.default, cooldown=cooldown, now=now))
    return out


def alert_job_failure(warehouse: Warehouse | None, notifier: Notifier, routes: Routes, alert: Alert,
                      owner: str | None, now: datetime) -> Outcome:
    """Send a failed run's alert on its owner's route (the default route when none matches).
    No cooldown: the run-failure sensor sees each failed run once."""
    out = Outcome()
    out.add(alert, send_alert(warehouse, notifier, alert, routes.for_owner(owner), cooldown=None, now=now))
    return out
