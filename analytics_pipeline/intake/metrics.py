"""Prometheus counters of the intake (served by the API's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

REQUESTS = Counter("analytics_intake_requests", "Intake requests by outcome", ["outcome"])
EVENTS = Counter("analytics_intake_events", "Events received by the intake, by verdict", ["verdict"])
_ACCEPTED = EVENTS.labels("accepted")
_REJECTED = EVENTS.labels("rejected")


def record_request(outcome: str, accepted: int, rejected: int) -> None:
    REQUESTS.labels(outcome).inc()
    if accepted:
        _ACCEPTED.inc(accepted)
    if rejected:
        _REJECTED.inc(rejected)
