"""The custom metrics endpoints: 404 ``no_metrics_module`` while the custom metrics module is
not installed; when it is, they answer what its plain functions answer."""

from __future__ import annotations

import importlib.util

import pytest

from analytics_pipeline_tests.api.conftest import AUTH

HAVE_METRICS = importlib.util.find_spec("analytics_pipeline.metrics") is not None and \
    importlib.util.find_spec("analytics_pipeline.metrics.query") is not None


@pytest.mark.skipif(HAVE_METRICS, reason="the custom metrics module is installed")
def test_without_the_module_both_endpoints_say_so(bare_client) -> None:
    for path in ("/api/v1/metrics", "/api/v1/metrics/conversion?from=2024-03-01&to=2024-03-02"):
        response = bare_client.get(path, headers=AUTH)
        assert response.status_code == 404 and response.json()["error"]["code"] == "no_metrics_module"


@pytest.mark.skipif(not HAVE_METRICS, reason="analytics_pipeline.metrics.query is not on this branch yet; "
                                             "the endpoints answer 404 no_metrics_module until it is")
def test_lists_the_metric_definitions(bare_client) -> None:
    from analytics_pipeline.api.routes.metrics import _plain
    from analytics_pipeline.metrics import query

    response = bare_client.get("/api/v1/metrics", headers=AUTH)
    assert response.status_code == 200 and response.json() == _plain(query.list_metrics())
    bad = bare_client.get("/api/v1/metrics/anything?from=2024-03-05&to=2024-03-01", headers=AUTH)
    assert bad.status_code == 400
