"""Prometheus metrics of one app's intake, registered in the app's own registry (the one its
``/metrics`` serves) when there is one: requests by HTTP status, events by verdict, and, read
when scraped, the group commit's counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily

from analytics_pipeline.intake.commit import CommitStats


class IntakeMetrics:
    def __init__(self, stats: CommitStats) -> None:
        self.requests = Counter("analytics_intake_requests", "Intake requests by HTTP status", ["status"],
                                registry=None)
        self.events = Counter("analytics_intake_events", "Events received by the intake, by verdict", ["verdict"],
                              registry=None)
        self._accepted = self.events.labels("accepted")
        self._rejected = self.events.labels("rejected")
        self._statuses: dict[str, Counter] = {}
        self._commits = _CommitCollector(stats)

    def register(self, registry: CollectorRegistry) -> None:
        for collector in (self.requests, self.events, self._commits):
            registry.register(collector)

    def record(self, status: str, accepted: int, rejected: int) -> None:
        counter = self._statuses.get(status)
        if counter is None:
            counter = self._statuses[status] = self.requests.labels(status)
        counter.inc()
        if accepted:
            self._accepted.inc(accepted)
        if rejected:
            self._rejected.inc(rejected)


class _CommitCollector:
    def __init__(self, stats: CommitStats) -> None:
        self.stats = stats

    def collect(self):
        s = self.stats
        for name, doc, value in (
            ("analytics_intake_commits", "Group commits (one write and one fsync each)", s.commits),
            ("analytics_intake_committed_requests", "Requests made durable by group commits", s.requests),
            ("analytics_intake_committed_bytes", "Bytes written and fsynced to intake files", s.bytes),
            ("analytics_intake_commit_seconds", "Seconds spent writing and fsyncing", s.seconds),
            ("analytics_intake_write_failures", "Group commits that failed (their requests got 503)", s.failures),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
