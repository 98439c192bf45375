"""GET /api/v1/dashboard and the warmed entries, counted by hand from the cache tests' events
(see test_summary.py), on both warehouses and both caches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.warm import warm_all
from analytics_pipeline_tests.api.conftest import AUTH, SITE_A_KEY
from analytics_pipeline_tests.cache.conftest import TODAY, day


def test_seven_days_against_the_seven_before(numbers_client) -> None:
    client = numbers_client
    body = client.get("/api/v1/dashboard", params={"timeframe": "7d"}, headers=AUTH).json()
    assert body["cached"] is False
    d = body["data"]
    assert (d["from"], d["to"], d["days"]) == (day(7).isoformat(), TODAY.isoformat(), 7)
    assert d["previous"] == {"from": day(14).isoformat(), "to": day(7).isoformat()}
    cards = d["cards"]
    # yesterday: 5 pageviews; visitors site-a {v1, v2} + site-b {v1}; sessions a1 a2 b1 (none a
    # bounce); durations 120 s, 0 s, 300 s. 12 days ago: a3, one pageview (a bounce), 180 s.
    assert cards["pageviews"] == {"value": 5, "previous": 1, "change": 4.0}
    assert cards["visitors"] == {"value": 3, "previous": 1, "change": 2.0}
    assert cards["sessions"] == {"value": 3, "previous": 1, "change": 2.0}
    assert cards["bounceRate"] == {"value": 0.0, "previous": 1.0, "changePoints": -100.0}
    assert cards["avgSessionDurationSeconds"] == {"value": 140.0, "previous": 180.0, "change": -0.2222}
    assert cards["customEvents"] == {"value": 1, "previous": 1, "change": 0.0}
    assert d["eventsByType"] == {"pageview": 5, "signup": 1}
    assert d["topPages"] == [{"item": "/", "count": 2}, {"item": "/docs", "count": 2}, {"item": "/pricing", "count": 1}]
    assert d["topReferrers"] == [{"item": "direct", "count": 3}, {"item": "google.com", "count": 1},
                                 {"item": "news.ycombinator.com", "count": 1}]
    assert [p["date"] for p in d["trend"]] == [day(k).isoformat() for k in range(7, 0, -1)]
    assert d["trend"][-1] == {"date": day(1).isoformat(), "pageviews": 5, "customEvents": 1, "visitors": 3,
                              "sessions": 3, "bounceRate": 0.0}
    assert sum(p["pageviews"] for p in d["trend"][:-1]) == 0
    again = client.get("/api/v1/dashboard", params={"timeframe": "7d"}, headers=AUTH).json()
    assert again == {**body, "cached": True}


def test_custom_range_and_one_website_and_websites_list(numbers_client) -> None:
    client = numbers_client
    params = {"from": day(12).isoformat(), "to": day(12).isoformat(), "website_id": "site-a"}
    d = client.get("/api/v1/dashboard", params=params, headers={"X-API-Key": SITE_A_KEY}).json()["data"]
    assert (d["timeframe"], d["days"], d["scope"]) == ("custom", 1, "site-a")
    assert d["cards"]["pageviews"]["value"] == 1 and d["cards"]["pageviews"]["change"] is None
    assert d["cards"]["bounceRate"]["value"] == 1.0
    assert d["eventsByType"] == {"pageview": 1, "purchase": 1}
    assert d["topPages"] == [{"item": "/blog", "count": 1}]
    assert [w["id"] for w in client.get("/api/v1/websites", headers=AUTH).json()] == ["site-a", "site-b"]
    assert [w["id"] for w in client.get("/api/v1/websites", headers={"X-API-Key": SITE_A_KEY}).json()] == ["site-a"]


def test_thirty_days_uses_the_warmed_top_items(client, populated) -> None:
    warm_all(populated, client.app.state.services.cache())
    d = client.get("/api/v1/dashboard", params={"timeframe": "30d"}, headers=AUTH).json()["data"]
    warmed = client.get("/api/v1/top-items", params={"limit": 10}, headers=AUTH).json()
    assert warmed["cached"] is True
    assert d["topPages"] == warmed["data"]["pages"] == [
        {"item": "/", "count": 2}, {"item": "/docs", "count": 2}, {"item": "/blog", "count": 1},
        {"item": "/pricing", "count": 1}]


def test_dashboard_bad_input(bare_client) -> None:
    for params, field in [({"timeframe": "1y"}, "timeframe"), ({"from": "2024-03-01"}, "to"),
                          ({"from": "2024-03-05", "to": "2024-03-01"}, "from"),
                          ({"from": "2020-01-01", "to": "2024-03-01"}, "to"), ({"from": "x", "to": "y"}, "from")]:
        response = bare_client.get("/api/v1/dashboard", params=params, headers=AUTH)
        assert response.status_code == 400 and response.json()["error"]["field"] == field, params


def test_warmed_entries_hit_after_warming_and_computed_on_a_miss(client, populated) -> None:
    first = client.get("/api/v1/activity-trends", params={"days": 7, "website_id": "site-b"}, headers=AUTH).json()
    assert first["cached"] is False
    assert first["data"]["series"][-1]["pageviews"] == 2 and first["data"]["scope"] == "site-b"
    warm_all(populated, client.app.state.services.cache())
    checks = {
        "/api/v1/activity-trends?days=14": lambda v: sum(p["pageviews"] for p in v["series"]) == 6,
        "/api/v1/user-growth?months=6": lambda v: v["months"] == 6 and len(v["series"]) == 6,
        "/api/v1/top-items?limit=20&website_id=site-a": lambda v: v["customEvents"] == [
            {"item": "purchase", "count": 1}, {"item": "signup", "count": 1}],
        "/api/v1/recent-activity?limit=10": lambda v: v["events"][0]["urlPath"] == "/today" and len(v["events"]) == 10,
        "/api/v1/performance-metrics": lambda v: v["totalJobs"] == 8,  # the seven dashboard jobs and the metric entries
    }
    for path, check in checks.items():
        body = client.get(path, headers=AUTH).json()
        assert body["cached"] is True and check(body["data"]), path
    assert client.get("/api/v1/top-items?limit=7", headers=AUTH).status_code == 400
    assert client.get("/api/v1/user-growth?months=abc", headers=AUTH).status_code == 400
