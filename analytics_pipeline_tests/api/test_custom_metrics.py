"""The custom metrics endpoints answer what the metrics module's plain functions answer, over
HTTP, on both warehouses: the definitions, daily values with a dimension filter and range
totals, and JSON errors for an unknown metric or a reversed range."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from analytics_pipeline.api.routes.metrics import _plain
from analytics_pipeline.metrics import query
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.api.conftest import AUTH, make_app
from analytics_pipeline_tests.metrics.test_consumers import BEFORE, YESTERDAY, learned  # noqa: F401 (fixture)

COURSE = "properties.courseId"


def test_lists_the_shipped_metric_definitions(bare_client) -> None:
    response = bare_client.get("/api/v1/metrics", headers=AUTH)
    assert response.status_code == 200 and response.json() == _plain(query.list_metrics())
    assert "course_enrolments" in {m["name"] for m in response.json()["metrics"]}


def test_values_and_totals_of_a_metric_over_http(learned: Warehouse, warehouse_url: str, tmp_path: Path) -> None:  # noqa: F811
    for day in (BEFORE, YESTERDAY):  # the API knows a website by its statistics (or the websites file)
        build_period(learned, "day", day)
    with TestClient(make_app(warehouse_url, "", tmp_path)) as client:
        response = client.get(f"/api/v1/metrics/course_enrolments?from={BEFORE}&to={YESTERDAY}"
                              f"&website_id=learn&dimension={COURSE}=c1", headers=AUTH)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert [(v["day"], v["value"]) for v in answer["values"]] == [(BEFORE.isoformat(), 1.0), (YESTERDAY.isoformat(), 2.0)]
        assert answer["totals"] == [{"website": "learn", "dimensions": {COURSE: "c1"}, "events": 3, "value": 3.0}]

        unknown = client.get(f"/api/v1/metrics/nope?from={BEFORE}&to={YESTERDAY}", headers=AUTH)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_metric"
        reversed_range = client.get(f"/api/v1/metrics/course_enrolments?from={YESTERDAY}&to={BEFORE}", headers=AUTH)
        assert reversed_range.status_code == 400
        assert client.get("/api/v1/metrics/course_enrolments?from=2024-13-01&to=2024-01-01", headers=AUTH).status_code == 400
