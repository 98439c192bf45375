"""The ``alert_history`` table, cooldowns, and sending an alert through its channels.

One row per alert per destination: ``sent`` (delivered), ``failed`` (the channel refused or
was unreachable; retried at the next evaluation), or ``unrouted`` (the channel is not
configured; treated like sent for the cooldown so an unconfigured channel does not fill the
table). An alert is sent to a destination at most once per cooldown: the cooldown starts at
the last ``sent``/``unrouted`` row of the same alert key and destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from analytics_pipeline.alerts.channels import ChannelError, Notification, NotConfigured, Notifier
from analytics_pipeline.warehouse import Warehouse


@dataclass(frozen=True)
class Alert:
    """Something to tell people, with what the history records about it."""

    kind: str  # metric | job_failure | freshness | warehouse_size
    rule: str
    alert_key: str
    severity: str
    title: str
    message: str
    website: str | None = None
    day: date | None = None
    value: float | None = None
    threshold: float | None = None
    run_id: str | None = None
    link: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def notification(self) -> Notification:
        return Notification(title=self.title, text=self.message, severity=self.severity,
                            link=self.link, fields=self.fields)


@dataclass(frozen=True)
class Delivery:
    destination: str
    status: str  # sent | failed | unrouted | cooldown
    error: str | None = None
    cooldown_until: datetime | None = None


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def record(warehouse: Warehouse, alert: Alert, destination: str, status: str, error: str | None,
           now: datetime) -> None:
    warehouse.run("insert_alert_history", {
        "alert_key": alert.alert_key, "kind": alert.kind, "rule": alert.rule,
        "website": alert.website, "day": warehouse.day(alert.day) if alert.day else None,
        "value": _finite(alert.value), "threshold": _finite(alert.threshold),
        "severity": alert.severity, "message": alert.message, "sent_to": destination,
        "status": status, "error": error, "run_id": alert.run_id, "sent_at": warehouse.ts(now),
    })


def last_sent(warehouse: Warehouse, alert_key: str, destination: str) -> datetime | None:
    rows = warehouse.query("select_alert_last_sent", {"alert_key": alert_key, "sent_to": destination})
    return Warehouse.to_datetime(rows[0]["sent_at"]) if rows else None


def recent(warehouse: Warehouse, limit: int = 50) -> list[dict[str, Any]]:
    """The newest history rows first, timestamps and days as Python values."""
    rows = warehouse.query("select_alert_history", {"limit": limit})
    for row in rows:
        row["sent_at"] = Warehouse.to_datetime(row["sent_at"])
        row["day"] = Warehouse.to_date(row["day"])
    return rows


def send_alert(warehouse: Warehouse | None, notifier: Notifier, alert: Alert, targets: tuple[str, ...] | list[str],
               *, cooldown: timedelta | None, now: datetime) -> list[Delivery]:
    """Send ``alert`` to each destination of ``targets`` not within its cooldown, and record
    each attempt. ``cooldown=None``: always send (job failures are one alert per run anyway).
    ``warehouse=None`` (it could not be opened): send anyway, without cooldown or history."""
    deliveries: list[Delivery] = []
    for destination in notifier.resolve(targets):
        if cooldown is not None and cooldown > timedelta(0):
            try:
                previous = last_sent(warehouse, alert.alert_key, destination.label) if warehouse else None
            except SQLAlchemyError:
                previous = None  # history unreadable: better a repeat than silence
            if previous is not None and now < previous + cooldown:
                deliveries.append(Delivery(destination.label, "cooldown", cooldown_until=previous + cooldown))
                continue
        try:
            notifier.send(destination, alert.notification())
            status, error = "sent", None
        except NotConfigured as exc:
            status, error = "unrouted", str(exc)
        except ChannelError as exc:
            status, error = "failed", str(exc)
        try:
            if warehouse is None:
                raise SQLAlchemyError("the warehouse could not be opened")
            record(warehouse, alert, destination.label, status, error, now)
        except SQLAlchemyError as exc:
            # The warehouse may be what is broken (a failed run often says so): the notification
            # still goes out; only its history row is lost, and the delivery says so.
            lost = f"not recorded in alert_history: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            error = f"{error}; {lost}" if error else lost
        deliveries.append(Delivery(destination.label, status, error))
    return deliveries
