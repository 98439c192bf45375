"""The warming functions on both warehouses and both caches: the values a dashboard reads equal
what the statistics tables (and, for SPEC §5, raw events) say."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest

from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.backends import CacheUnavailable, RedisCache
from analytics_pipeline.cache.warm import JOBS, clear_all, invalidate, jobs_to_refresh, warm_all, warm_job
from analytics_pipeline.partitions import period_start
from analytics_pipeline.stats.build import read_period
from analytics_pipeline_tests.cache.conftest import NOW, TODAY, day, load

SUMMARY_7 = f"analytics:summary:{day(7).isoformat()}T00:00:00.000Z:{TODAY.isoformat()}T00:00:00.000Z"
SUMMARY_30 = f"analytics:summary:{day(30).isoformat()}T00:00:00.000Z:{TODAY.isoformat()}T00:00:00.000Z"
SUMMARY_90 = f"analytics:summary:{day(90).isoformat()}T00:00:00.000Z:{TODAY.isoformat()}T00:00:00.000Z"


def cached(cache, key):
    raw = cache.get(key)
    assert raw is not None, f"{key} is not cached"
    return json.loads(raw)


def test_summary_entries_are_spec_5_for_the_last_7_30_90_full_days(populated, cache_backend):
    cache = cache_backend
    result = warm_job("summary", populated, cache, NOW)

    assert sorted(result.entry_bytes) == sorted([SUMMARY_7, SUMMARY_30, SUMMARY_90])
    assert cached(cache, SUMMARY_7) == {"totalEvents": 6, "uniqueUsers": 2,
                                        "eventsByType": {"pageview": 5, "signup": 1}}
    assert cached(cache, SUMMARY_30) == {"totalEvents": 8, "uniqueUsers": 3,
                                         "eventsByType": {"pageview": 6, "purchase": 1, "signup": 1}}
    assert cached(cache, SUMMARY_90) == {"totalEvents": 10, "uniqueUsers": 5,
                                         "eventsByType": {"pageview": 8, "purchase": 1, "signup": 1}}
    for key in (SUMMARY_7, SUMMARY_30, SUMMARY_90):
        start, end = re.fullmatch(r"analytics:summary:(.+Z):(.+Z)", key).groups()
        assert cached(cache, key) == E.raw_summary(populated, datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_activity_trends_equal_daily_stats(populated, cache_backend):
    cache = cache_backend
    warm_job("activity-trends", populated, cache, NOW)

    for window in (7, 14, 30):
        value = cached(cache, f"analytics:activity-trends:site-a:{window}")
        assert [p["date"] for p in value["series"]] == [day(k).isoformat() for k in range(window, 0, -1)]
    series = cached(cache, "analytics:activity-trends:site-a:30")["series"]
    all_series = cached(cache, "analytics:activity-trends:all:30")["series"]
    for point, all_point in zip(series, all_series):
        rows = {r["website_id"]: r for r in read_period(populated, "day", date.fromisoformat(point["date"]))}
        a = rows.get("site-a")
        assert point["pageviews"] == (a["total_pageviews"] if a else 0)
        assert point["customEvents"] == (a["total_custom_events"] if a else 0)
        assert point["uniqueVisitors"] == (a["unique_visitors"] if a else 0)
        assert point["uniqueSessions"] == (a["unique_sessions"] if a else 0)
        assert point["sessionsStarted"] == (a["sessions_started"] if a else 0)
        assert point["bounceRate"] == pytest.approx(a["bounce_rate"] if a else 0.0)
        assert point["avgSessionDurationSeconds"] == pytest.approx(a["avg_session_duration_seconds"] if a else 0.0, abs=1e-3)
        assert all_point["pageviews"] == sum(r["total_pageviews"] for r in rows.values())
        assert all_point["uniqueVisitors"] == sum(r["unique_visitors"] for r in rows.values())
    yesterday = all_series[-1]
    assert (yesterday["pageviews"], yesterday["customEvents"], yesterday["uniqueVisitors"],
            yesterday["sessionsStarted"]) == (5, 1, 3, 3)
    assert yesterday["avgSessionDurationSeconds"] == pytest.approx((120 + 0 + 300) / 3, abs=1e-3)


def test_top_items_are_exact_over_the_last_30_days(populated, cache_backend):
    cache = cache_backend
    warm_job("top-items", populated, cache, NOW)

    site_a = cached(cache, "analytics:top-items:site-a:10")
    assert site_a["pages"] == [{"item": "/", "count": 2}, {"item": "/blog", "count": 1},
                               {"item": "/pricing", "count": 1}]
    assert site_a["referrers"] == [{"item": "direct", "count": 3}, {"item": "google.com", "count": 1}]
    assert site_a["customEvents"] == [{"item": "purchase", "count": 1}, {"item": "signup", "count": 1}]
    everything = cached(cache, "analytics:top-items:all:50")
    assert everything["pages"] == [{"item": "/", "count": 2}, {"item": "/docs", "count": 2},
                                   {"item": "/blog", "count": 1}, {"item": "/pricing", "count": 1}]
    assert everything["referrers"][0] == {"item": "direct", "count": 4}
    assert (everything["from"], everything["to"]) == (day(30).isoformat(), TODAY.isoformat())
    assert len(cached(cache, "analytics:top-items:all:10")["pages"]) == 4
    # custom events agree with the daily_stats events_by_type they are summed from
    assert everything["customEvents"] == [{"item": "purchase", "count": 1}, {"item": "signup", "count": 1}]


def test_recent_activity_is_the_latest_events_newest_first(populated, cache_backend):
    cache = cache_backend
    warm_job("recent-activity", populated, cache, NOW)

    latest = cached(cache, "analytics:recent-activity:all:10")["events"]
    assert len(latest) == 10
    assert latest[0]["urlPath"] == "/today" and latest[0]["visitorId"] == "v6"
    assert len(cached(cache, "analytics:recent-activity:all:20")["events"]) == 11
    site_b = cached(cache, "analytics:recent-activity:site-b:10")["events"]
    assert [e["occurredAt"] for e in site_b] == [
        f"{day(1).isoformat()}T09:05:00.000Z", f"{day(1).isoformat()}T09:00:00.000Z",
        f"{day(40).isoformat()}T10:00:00.000Z"]
    assert site_b[0]["referrer"] is None and site_b[1]["referrer"] == "news.ycombinator.com"


def test_user_growth_equals_monthly_stats(populated, cache_backend):
    cache = cache_backend
    warm_job("user-growth", populated, cache, NOW)

    for scope in ("all", "site-a", "site-b"):
        for window in (6, 12, 24):
            value = cached(cache, f"analytics:user-growth:{scope}:{window}")
            assert len(value["series"]) == window
            assert value["series"][-1]["month"] == E.add_months(TODAY.replace(day=1), -1).isoformat()
        series = cached(cache, f"analytics:user-growth:{scope}:24")["series"]
        nonzero = 0
        for point in series:
            rows = [r for r in read_period(populated, "month", date.fromisoformat(point["month"]))
                    if scope == "all" or r["website_id"] == scope]
            assert point["uniqueVisitors"] == sum(r["unique_visitors"] for r in rows)
            assert point["sessionsStarted"] == sum(r["sessions_started"] for r in rows)
            assert point["pageviews"] == sum(r["total_pageviews"] for r in rows)
            nonzero += point["pageviews"] > 0
        # the months of the events (1, 12, 40 and 85 days ago) that are full months before
        # this one: early in a month, yesterday's is one too
        expected = {period_start("month", day(k)) for k in (1, 12, 40, 85)} - {TODAY.replace(day=1)}
        if scope == "all":
            assert nonzero == len(expected)


def test_every_entry_has_a_ttl_longer_than_its_refresh_interval(populated, cache_backend):
    cache = cache_backend
    summary = warm_all(populated, cache, NOW)

    assert summary["entries"] == len(summary["keys"]) > 0
    for key in summary["keys"]:
        job = JOBS[key.split(":")[1]]  # analytics:<job id>:...
        ttl = cache.ttl(key)
        assert ttl is not None and job.interval_seconds < ttl <= job.ttl_seconds, (key, ttl)
    # 3 summaries; (all + 2 sites) x (3 + 3 + 3 + 2) windows; 1 performance-metrics
    assert summary["entries"] == 3 + 3 * 11 + 1


def test_pattern_invalidation_and_clear(populated, cache_backend):
    cache = cache_backend
    warm_all(populated, cache, NOW)

    assert invalidate(cache, "analytics:summary:*") == 3
    assert cache.keys("analytics:summary:*") == []
    assert cache.get("analytics:top-items:all:10") is not None
    assert invalidate(cache, "analytics:top-items:site-?:*") == 6
    assert cache.get("analytics:top-items:all:10") is not None
    with pytest.raises(ValueError):
        invalidate(cache, "*")
    assert clear_all(cache) > 0
    assert cache.keys("analytics:*") == []


def test_re_aggregated_day_refreshes_the_entries_that_include_it(populated, cache_backend, landing_dir):
    cache = cache_backend
    warm_all(populated, cache, NOW)
    assert cached(cache, SUMMARY_7)["totalEvents"] == 6

    late = [("site-b", "v9", "b9", "custom", "signup", None, E.midnight(day(1)).replace(hour=20))]
    days = load(populated, landing_dir, late, "late.jsonl")
    jobs = jobs_to_refresh("day", days, TODAY)
    assert jobs == ["activity-trends", "summary", "top-items"]
    for job_id in jobs:
        warm_job(job_id, populated, cache, NOW)

    assert cached(cache, SUMMARY_7) == {"totalEvents": 7, "uniqueUsers": 3,
                                        "eventsByType": {"pageview": 5, "signup": 2}}
    assert cached(cache, "analytics:activity-trends:site-b:7")["series"][-1]["customEvents"] == 1
    assert jobs_to_refresh("day", {day(60)}, TODAY) == ["summary"]
    assert jobs_to_refresh("day", {day(200), TODAY}, TODAY) == []
    assert jobs_to_refresh("month", {E.add_months(TODAY.replace(day=1), -3)}, TODAY) == ["user-growth"]


def test_performance_metrics_and_job_statuses(populated, cache_backend):
    cache = cache_backend
    warm_all(populated, cache, NOW)

    metrics = cached(cache, "analytics:performance-metrics")
    jobs = {j["id"]: j for j in metrics["jobs"]}
    assert set(jobs) == {"user-growth", "activity-trends", "top-items", "recent-activity", "summary"}
    assert jobs["summary"]["entries"] == 3 and jobs["summary"]["bytes"] > 0
    assert {q["name"] for q in jobs["summary"]["queries"]} >= {"select_cache_daily_stats", "select_cache_unique_visitors"}
    assert metrics["entries"] == sum(j["entries"] for j in jobs.values())
    assert metrics["failedJobs"] == 0 and metrics["successfulJobs"] == 5
    if isinstance(cache, RedisCache):
        assert metrics["cache"]["hits"] is not None and metrics["cache"]["misses"] is not None
    else:
        assert metrics["cache"]["hits"] is None


def test_cleanup_removes_expired_embedded_entries(populated, cache_backend):
    cache = cache_backend
    cache.set_many({"analytics:stale": "1"}, 60)
    if cache.kind == "embedded":
        cache.set_many({"analytics:expired": "1"}, -5)
    result = warm_job("cache-cleanup", populated, cache, NOW)
    assert result.removed == (1 if cache.kind == "embedded" else 0)
    assert cache.get("analytics:stale") == "1"
    assert json.loads(cache.get("analytics:job-status:cache-cleanup"))["status"] == "completed"


def test_redis_down_is_a_clear_error(populated):
    with pytest.raises(CacheUnavailable, match="unreachable"):
        warm_job("summary", populated, RedisCache("redis://127.0.0.1:1/0"), NOW)


def test_unknown_job_id(populated, cache_backend):
    cache = cache_backend
    with pytest.raises(KeyError, match="known: user-growth"):
        warm_job("nope", populated, cache, NOW)


def test_a_redis_server_error_is_cache_unavailable_and_other_errors_pass_through(populated):
    """redis is imported lazily (backends.is_redis_error): a Redis error that is not a connection
    error (here the server refusing a command) still reads as CacheUnavailable; a bug does not."""
    import redis

    class Refusing(RedisCache):
        def __init__(self, error: Exception) -> None:
            super().__init__("redis://127.0.0.1:1/0")
            self.error = error

        def ping(self) -> None:
            raise self.error

    with pytest.raises(CacheUnavailable, match="redis cache failed: OOM"):
        warm_job("summary", populated, Refusing(redis.exceptions.ResponseError("OOM command not allowed")), NOW)
    with pytest.raises(ZeroDivisionError):
        warm_job("summary", populated, Refusing(ZeroDivisionError("a bug")), NOW)
