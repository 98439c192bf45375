"""Prometheus metrics of one app: request latency per route template, cache hits and misses,
and, computed when scraped, the age of the newest statistics and of each warmed job's entries."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.warm import JOBS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self, services) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("analytics_api_request_duration_seconds", "Request latency by route template",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.cache_results = Counter("analytics_api_cache_requests", "Cache-aside lookups by entry kind and result",
                                     ["entry", "result"], registry=self.registry)
        self.registry.register(_FreshnessCollector(services))
        services.on_cache_result = lambda entry, result: self.cache_results.labels(entry, result).inc()


class _FreshnessCollector:
    """Ages read at scrape time (a scrape never fails: an unreachable backend is reported as
    ``analytics_api_backend_up 0``)."""

    def __init__(self, services) -> None:
        self.services = services

    def collect(self):
        from analytics_pipeline.api.queries import latest_stats

        now = datetime.now(timezone.utc)
        up = GaugeMetricFamily("analytics_api_backend_up", "1 when the backend answered this scrape", labels=["backend"])
        stats_age = GaugeMetricFamily("analytics_newest_statistics_age_seconds",
                                      "Seconds since daily statistics were last computed")
        stats_day = GaugeMetricFamily("analytics_newest_statistics_day_age_days",
                                      "Days between today (UTC) and the newest aggregated day")
        try:
            last_day, computed_at = self.services.compute(latest_stats)
            up.add_metric(["warehouse"], 1)
            if computed_at is not None:
                stats_age.add_metric([], (now - computed_at).total_seconds())
            if last_day is not None:
                stats_day.add_metric([], (now.date() - last_day).days)
        except Exception:
            up.add_metric(["warehouse"], 0)
        entry_age = GaugeMetricFamily("analytics_cache_entry_age_seconds",
                                      "Seconds since each warming job last wrote its entries", labels=["job"])
        entry_ttl = GaugeMetricFamily("analytics_cache_entry_ttl_seconds",
                                      "Seconds the job's status entry still lives", labels=["job"])
        try:
            cache = self.services.cache()
            for job_id in JOBS:
                raw = cache.get(E.job_status_key(job_id))
                if raw is None:
                    continue
                status = json.loads(raw)
                if status.get("lastRun"):
                    last = datetime.fromisoformat(status["lastRun"].replace("Z", "+00:00"))
                    entry_age.add_metric([job_id], (now - last).total_seconds())
                ttl = cache.ttl(E.job_status_key(job_id))
                if ttl is not None:
                    entry_ttl.add_metric([job_id], ttl)
            up.add_metric(["cache"], 1)
        except Exception:
            up.add_metric(["cache"], 0)
        yield from (up, stats_age, stats_day, entry_age, entry_ttl)


class RequestTimer:
    """ASGI middleware: observes every HTTP request's latency under its route template (the
    path pattern, never the raw path, so label values stay few)."""

    def __init__(self, app, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope.get("method", ""), template, str(status[0])).observe(
                time.perf_counter() - start)
