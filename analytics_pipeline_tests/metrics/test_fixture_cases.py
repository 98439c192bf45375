"""Every aggregation, filter, dimension and formula edge case, and the shipped learning-platform
metric files, against values computed by hand in ``fixtures/metrics/*.expected.json``, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path


from analytics_pipeline import settings
from analytics_pipeline.metrics.compute import build_days, compute_day
from analytics_pipeline.metrics.query import metric_values
from analytics_pipeline.metrics.spec import load_metrics
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.stats.helpers import drop, ingest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"
SHIPPED = settings.REPO_ROOT / "metric_definitions"
INGESTED_AT = datetime(2024, 3, 10, tzinfo=timezone.utc)


def load_events(warehouse: Warehouse, landing_dir: Path, name: str) -> None:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    drop(landing_dir, f"{name}.jsonl", [json.loads(line) for line in lines if line])
    assert ingest(warehouse, landing_dir, INGESTED_AT).loaded == len(lines)


def as_rows(result) -> list[dict]:
    return sorted(({"website_id": r.website_id, "dimensions": r.dimensions, "value": r.value, "events": r.events}
                   for r in result.rows), key=json.dumps)


def test_edge_case_metrics_match_the_hand_computed_values(warehouse: Warehouse, landing_dir: Path) -> None:
    expected = json.loads((FIXTURES / "edges.expected.json").read_text(encoding="utf-8"))
    metrics = load_metrics(FIXTURES / "edges")
    assert metrics.problems == []
    assert sorted(m.name for m in metrics.metrics) == sorted(expected["metrics"])
    load_events(warehouse, landing_dir, "edges")
    day = date.fromisoformat(expected["day"])

    for metric in metrics.metrics:
        result = compute_day(warehouse, metric, day)

        assert as_rows(result) == sorted(expected["metrics"][metric.name], key=json.dumps), metric.name
        assert result.ignored == expected["ignored"].get(metric.name, 0), metric.name
        assert result.capped == expected["capped"].get(metric.name, {}), metric.name


def test_shipped_learning_metrics_match_the_hand_computed_values(warehouse: Warehouse, landing_dir: Path) -> None:
    expected = json.loads((FIXTURES / "learning.expected.json").read_text(encoding="utf-8"))
    metrics = load_metrics(SHIPPED)
    assert metrics.problems == []
    load_events(warehouse, landing_dir, "learning")
    days = [date.fromisoformat(d) for d in expected["days"]]

    for metric in metrics.metrics:
        results = build_days(warehouse, metric, days)

        for result in results:
            want = expected["days"][result.day.isoformat()][metric.name]
            assert as_rows(result) == sorted(want, key=json.dumps), (metric.name, result.day)


def test_a_range_combines_the_stored_inputs_exactly(warehouse: Warehouse, landing_dir: Path) -> None:
    expected = json.loads((FIXTURES / "learning.expected.json").read_text(encoding="utf-8"))
    metrics = load_metrics(SHIPPED).by_name()
    load_events(warehouse, landing_dir, "learning")
    days = [date(2024, 3, 1), date(2024, 3, 2)]
    for name in expected["range_2024-03-01_2024-03-02"]:
        build_days(warehouse, metrics[name], days)

    for name, by_course in expected["range_2024-03-01_2024-03-02"].items():
        answer = metric_values(warehouse, name, website="learn", from_day=days[0], to_day=days[1],
                               metrics_dir=SHIPPED)

        totals = {t["dimensions"]["properties.courseId"]: t["value"] for t in answer["totals"]}
        assert totals == by_course, name


def test_rebuilding_a_day_replaces_it(warehouse: Warehouse, landing_dir: Path) -> None:
    metric = load_metrics(SHIPPED).by_name()["course_enrolments"]
    load_events(warehouse, landing_dir, "learning")

    build_days(warehouse, metric, [date(2024, 3, 1)])
    build_days(warehouse, metric, [date(2024, 3, 1)])

    rows = warehouse.query("select_metric_values", {"metric": "course_enrolments", "from_day": warehouse.day(date(2024, 3, 1)),
                                                    "to_day": warehouse.day(date(2024, 3, 1))})
    assert sorted((r["dimensions"], r["value"]) for r in rows) == [
        ('{"properties.courseId":"(none)"}', 1.0), ('{"properties.courseId":"c1"}', 2.0),
        ('{"properties.courseId":"c2"}', 1.0)]


def test_a_day_is_each_websites_local_day(warehouse: Warehouse, landing_dir: Path, tmp_path: Path) -> None:
    """learn in New York (UTC-5 in March before DST): its day 2024-03-01 is 05:00Z to 05:00Z the
    next day; shop stays on UTC. One enrolment each at 2024-03-02T03:00Z: learn's local day is
    still March 1st, shop's is March 2nd."""
    from analytics_pipeline.websites import load_websites

    websites = tmp_path / "websites.yaml"
    websites.write_text("websites:\n  - {id: learn, name: Learn, timezone: America/New_York}\n", encoding="utf-8")
    directory = load_websites(websites, "UTC")
    drop(landing_dir, "tz.jsonl", [
        {"event_id": f"tz-{site}", "website_id": site, "session_id": f"s-{site}", "visitor_id": "u",
         "event_type": "custom", "event_name": "UserEnrolled", "properties": {"courseId": "c1"},
         "occurred_at": "2024-03-02T03:00:00Z"} for site in ("learn", "shop")])
    ingest(warehouse, landing_dir, INGESTED_AT)
    metric = load_metrics(SHIPPED).by_name()["course_enrolments"]

    first = compute_day(warehouse, metric, date(2024, 3, 1), directory)
    second = compute_day(warehouse, metric, date(2024, 3, 2), directory)

    assert [(r.website_id, r.value) for r in first.rows] == [("learn", 1.0)]
    assert [(r.website_id, r.value) for r in second.rows] == [("shop", 1.0)]
    assert first.statements == 2  # one statement per time zone
