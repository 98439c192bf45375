"""Everything else can use a metric: alert rules (``metric: metric:<name>`` with a dimension
filter), report sections (``metric:<name>``), the cache entries ``analytics:metric:...`` on both
caches, and the serving seam ``list_metrics``/``metric_values``; on both warehouses.

Events (website ``learn``): two days ago one enrolment in c1; yesterday two enrolments in c1,
one in c2 and one completion of c1. By hand: enrolments c1 = 1 then 2 (3 over both days), c2 = 1;
completion rate c1 = 1/3 * 100 over both days, 1/2 * 100 = 50 yesterday; c2 = 0."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from analytics_pipeline.alerts.checks import evaluate_day
from analytics_pipeline.alerts.rules import parse_rule
from analytics_pipeline.cache.backends import EmbeddedCache, RedisCache
from analytics_pipeline.cache.metric_entries import metric_key
from analytics_pipeline.cache.warm import warm_job
from analytics_pipeline.metrics.compute import build_days
from analytics_pipeline.metrics.query import UnknownMetric, list_metrics, metric_values
from analytics_pipeline.metrics.spec import load_metrics
from analytics_pipeline.reports.data import gather_report_data
from analytics_pipeline.reports.templates import parse_template
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.stats.helpers import drop, ingest

NOW = datetime.now(timezone.utc)
YESTERDAY = NOW.date() - timedelta(days=1)
BEFORE = YESTERDAY - timedelta(days=1)
C = "properties.courseId"


def _event(n: int, day, name: str, course: str) -> dict:
    return {"event_id": f"c{n}", "website_id": "learn", "session_id": f"s{n}", "visitor_id": f"u{n}",
            "event_type": "custom", "event_name": name, "properties": {"courseId": course},
            "occurred_at": datetime.combine(day, time(12), tzinfo=timezone.utc).isoformat()}


@pytest.fixture
def learned(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    drop(landing_dir, "learn.jsonl", [
        _event(1, BEFORE, "UserEnrolled", "c1"),
        _event(2, YESTERDAY, "UserEnrolled", "c1"), _event(3, YESTERDAY, "UserEnrolled", "c1"),
        _event(4, YESTERDAY, "UserEnrolled", "c2"), _event(5, YESTERDAY, "UserCompletedCourse", "c1"),
    ])
    ingest(warehouse, landing_dir, NOW)
    metrics = load_metrics(REPO_ROOT / "metric_definitions").by_name()
    for name in ("course_enrolments", "course_completion_rate", "learning_progress"):
        build_days(warehouse, metrics[name], [BEFORE, YESTERDAY])
    return warehouse


def _rule(**fields):
    rule, errors = parse_rule({"condition": "above", "threshold": 1, **fields}, "rule.yaml", "r")
    assert errors == []
    return rule


def test_alert_rules_read_a_metric_with_a_dimension_filter(learned: Warehouse):
    rules = [
        _rule(name="c1_enrolments", metric="metric:course_enrolments", website="learn", dimensions={C: "c1"}),
        _rule(name="c2_rate_low", metric="metric:course_completion_rate", website="learn", dimensions={C: "c2"},
              condition="below", threshold=10),
        _rule(name="all_enrolments", metric="metric:course_enrolments", website="all", threshold=2.5),
        _rule(name="c3_rate", metric="metric:course_completion_rate", website="learn", dimensions={C: "c3"}),
        _rule(name="gone", metric="metric:no_such_metric"),
    ]

    evaluation = evaluate_day(learned, rules, YESTERDAY)

    fired = {f.rule.name: f.value for f in evaluation.firings}
    assert fired == {"c1_enrolments": 2.0, "c2_rate_low": 0.0, "all_enrolments": 3.0}
    notes = " | ".join(evaluation.not_evaluated)
    assert "c3_rate" in notes and "no valid metric file defines 'no_such_metric'" in notes


def test_a_rule_with_dimensions_on_a_stats_column_is_refused():
    _rule_obj, errors = parse_rule({"metric": "total_pageviews", "condition": "above", "threshold": 1,
                                    "dimensions": {C: "c1"}}, "rule.yaml", "r")
    assert [e.field for e in errors] == ["dimensions"]


def test_a_report_section_shows_a_metric_against_the_previous_period(learned: Warehouse):
    template = parse_template({
        "id": "courses", "name": "Courses", "description": "Course enrolments", "schedule": "daily",
        "content": {"sections": ["summary", "metric:course_enrolments", "metric:no_such_metric"]},
    }, "courses.yaml")

    data = gather_report_data(learned, template, YESTERDAY)

    section = data.section("metric:course_enrolments")
    assert [(r["website_id"], r["dimensions"], r["value"], r["previous"]) for r in section.rows] == [
        ("learn", {C: "c1"}, 2.0, 1.0), ("learn", {C: "c2"}, 1.0, None)]
    assert data.section("metric:no_such_metric").rows[0]["note"].startswith("no valid metric file")
    assert "metric_values" in data.source_tables


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_cache_entries_per_metric_on_both_caches(learned: Warehouse, backend: str, request):
    cache = EmbeddedCache(learned) if backend == "embedded" else RedisCache(request.getfixturevalue("redis_url"))

    warm_job("metric", learned, cache, NOW)

    entry = json.loads(cache.get(metric_key("course_completion_rate", "all", 7)))
    assert {json.dumps(t["dimensions"]): t["value"] for t in entry["totals"]} == {
        json.dumps({C: "c1"}): 33.333333333, json.dumps({C: "c2"}): 0.0}
    assert entry["series"][-2:] == [{"date": BEFORE.isoformat(), "value": 0.0, "events": 1},
                                    {"date": YESTERDAY.isoformat(), "value": round(100 / 3, 9), "events": 4}]
    site = json.loads(cache.get(metric_key("course_enrolments", "learn", 30)))
    assert sum(t["value"] for t in site["totals"]) == 4.0 and len(site["series"]) == 30
    assert cache.ttl(metric_key("course_enrolments", "learn", 30)) > 900
    progress = cache.get(metric_key("learning_progress", "all", 7))
    assert progress is None  # no module completions: a metric without values gets no entry


def test_the_serving_seam_returns_json_ready_answers(learned: Warehouse):
    listing = list_metrics(REPO_ROOT / "metric_definitions")
    assert "course_enrolments" in {m["name"] for m in listing["metrics"]} and listing["problems"] == []

    answer = metric_values(learned, "course_enrolments", website="learn", from_day=BEFORE, to_day=YESTERDAY,
                           dimensions={C: "c1"}, metrics_dir=REPO_ROOT / "metric_definitions")

    json.dumps(answer)  # JSON-ready
    assert [(v["day"], v["value"]) for v in answer["values"]] == [(BEFORE.isoformat(), 1.0), (YESTERDAY.isoformat(), 2.0)]
    assert answer["totals"] == [{"website": "learn", "dimensions": {C: "c1"}, "events": 3, "value": 3.0}]
    with pytest.raises(UnknownMetric):
        metric_values(learned, "nope", from_day=BEFORE, to_day=YESTERDAY)
    with pytest.raises(ValueError):
        metric_values(learned, "course_enrolments", from_day=YESTERDAY, to_day=BEFORE)
