"""GET /api/analytics/summary: the numbers, cache-aside (hit, miss, expiry), bad input, keys.

Expected values are counted by hand from the cache tests' events (``cache/conftest.py``):
yesterday site-a has 3 pageviews and a signup by v1/v2, site-b 2 pageviews by v1; 12 days ago
site-a v3 has a pageview and a purchase; site-b v4 40 days ago, site-a v5 85 days ago, and
site-a v6 at today's midnight.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from analytics_pipeline.api import queries
from analytics_pipeline.api.services import Services
from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.warm import warm_job
from analytics_pipeline.websites import load_websites
from analytics_pipeline_tests.api.conftest import AUTH, SITE_A_KEY
from analytics_pipeline_tests.cache.conftest import TODAY, at, day, load

SUMMARY = "/api/analytics/summary"


def iso(moment: datetime) -> str:
    return E.iso_ms(moment)


def midnight(offset: int) -> datetime:
    return at(day(offset), 0, 0)


def test_summary_numbers(numbers_client) -> None:
    client = numbers_client
    # the last 7 full days: yesterday's 6 events by v1 and v2 (v1 on both websites counts once)
    response = client.get(SUMMARY, params={"from": iso(midnight(7)), "to": iso(midnight(0))}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"data": {"totalEvents": 6, "uniqueUsers": 2,
                                        "eventsByType": {"pageview": 5, "signup": 1}}, "cached": False}
    # a partial day, from events: yesterday 10:01 .. 11:00 holds site-a's pageviews at 10:01 and 10:02
    body = client.get(SUMMARY, params={"from": iso(at(day(1), 10, 1)), "to": iso(at(day(1), 11, 0))}, headers=AUTH).json()
    assert body["data"] == {"totalEvents": 2, "uniqueUsers": 1, "eventsByType": {"pageview": 2}}
    # site-a from 90 days ago 05:00 to today 00:00:30: yesterday (4), 12 days ago (2), 85 days
    # ago (1) and today's midnight pageview (1); visitors v1 v2 v3 v5 v6
    params = {"from": iso(at(day(90), 5, 0)), "to": iso(at(TODAY, 0, 0) + timedelta(seconds=30)), "website_id": "site-a"}
    body = client.get(SUMMARY, params=params, headers=AUTH).json()
    assert body["data"] == {"totalEvents": 8, "uniqueUsers": 5,
                            "eventsByType": {"pageview": 6, "purchase": 1, "signup": 1}}
    # from == to is an empty range
    body = client.get(SUMMARY, params={"from": iso(midnight(1)), "to": iso(midnight(1))}, headers=AUTH).json()
    assert body["data"] == {"totalEvents": 0, "uniqueUsers": 0, "eventsByType": {}}


def test_warmed_preset_is_a_hit(client, populated, warehouse_url, cache_url) -> None:
    services = client.app.state.services
    warm_job("summary", populated, services.cache())
    first, end = E.last_full_days(datetime.now(timezone.utc), 30)
    body = client.get(SUMMARY, params={"from": iso(E.midnight(first)), "to": iso(E.midnight(end))}, headers=AUTH).json()
    assert body["cached"] is True
    assert body["data"] == {"totalEvents": 8, "uniqueUsers": 3,
                            "eventsByType": {"pageview": 6, "purchase": 1, "signup": 1}}


def test_cache_aside_hit_then_expiry(client, populated, landing_dir: Path) -> None:
    client.app.state.services.computed_ttl_seconds = 1
    params = {"from": iso(midnight(3)), "to": iso(midnight(0))}
    miss = client.get(SUMMARY, params=params, headers=AUTH).json()
    assert miss == {"data": {"totalEvents": 6, "uniqueUsers": 2, "eventsByType": {"pageview": 5, "signup": 1}},
                    "cached": False}
    # a late event for yesterday: the cached answer is served until it expires
    load(populated, landing_dir, [("site-b", "v9", "b9", "pageview", "/late", None, at(day(1), 15))], "late.jsonl")
    hit = client.get(SUMMARY, params=params, headers=AUTH).json()
    assert hit == {**miss, "cached": True}
    time.sleep(1.6)
    again = client.get(SUMMARY, params=params, headers=AUTH).json()
    assert again == {"data": {"totalEvents": 7, "uniqueUsers": 3, "eventsByType": {"pageview": 6, "signup": 1}},
                     "cached": False}


@pytest.mark.parametrize("params,field", [
    ({}, "from"),
    ({"from": "2024-03-01T00:00:00Z"}, "to"),
    ({"from": "yesterday", "to": "2024-03-01T00:00:00Z"}, "from"),
    ({"from": "2024-03-01T00:00:00Z", "to": "2024-02-30T00:00:00Z"}, "to"),
    ({"from": "2024-03-02T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "from"),
    ({"from": "2020-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "to"),
    ({"from": "0001-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "from"),
])
def test_bad_parameters_are_400_json(bare_client, params: dict, field: str) -> None:
    response = bare_client.get(SUMMARY, params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert response.json()["error"]["field"] == field


def test_keys_and_websites(numbers_client) -> None:
    client = numbers_client
    params = {"from": iso(midnight(7)), "to": iso(midnight(0))}
    assert client.get(SUMMARY, params=params).status_code == 401
    assert client.get(SUMMARY, params=params, headers={"X-API-Key": "wrong-key-1234"}).status_code == 401
    site_key = {"X-API-Key": SITE_A_KEY}
    assert client.get(SUMMARY, params=params, headers=site_key).status_code == 403  # all websites
    assert client.get(SUMMARY, params={**params, "website_id": "site-b"}, headers=site_key).status_code == 403
    own = client.get(SUMMARY, params={**params, "website_id": "site-a"}, headers=site_key).json()
    assert own["data"] == {"totalEvents": 4, "uniqueUsers": 2, "eventsByType": {"pageview": 3, "signup": 1}}
    unknown = client.get(SUMMARY, params={**params, "website_id": "nope"}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_website"


def test_whole_local_days_across_daylight_saving() -> None:
    # New York: 2024-03-10 is 23 hours long; [03-09 05:00Z, 03-12 04:00Z) holds 03-09, 03-10, 03-11
    start = datetime(2024, 3, 9, 5, tzinfo=timezone.utc)
    end = datetime(2024, 3, 12, 4, tzinfo=timezone.utc)
    assert queries.whole_days("America/New_York", start, end) == (datetime(2024, 3, 9).date(), datetime(2024, 3, 12).date())
    assert queries.whole_days("America/New_York", start + timedelta(minutes=1), end) == (
        datetime(2024, 3, 10).date(), datetime(2024, 3, 12).date())
    assert queries.whole_days("UTC", start, start + timedelta(hours=3)) == (datetime(2024, 3, 10).date(),) * 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 95 * 24 * 4), st.integers(0, 95 * 24 * 4), st.sampled_from([None, "site-a", "site-b"]))
def test_any_range_equals_the_raw_events(populated, start_q: int, length_q: int, website: str | None) -> None:
    """Whatever mix of whole days (statistics) and partial days (events) a range has, the answer
    equals counting the raw events of the range."""
    origin = at(day(92), 0, 0)
    start = origin + timedelta(minutes=15 * start_q)
    end = start + timedelta(minutes=15 * (length_q % (40 * 24 * 4)))
    directory = load_websites(Path("/nonexistent/websites.yaml"), "UTC")
    got = queries.summary(populated, start, end, website, directory)
    sites = queries.scope_filter(website)
    by_type = {r["event_type"]: int(r["count"]) for r in queries.rows(
        populated, "select_api_event_counts_by_type", {"from": populated.ts(start), "to": populated.ts(end)}, sites)}
    assert got["eventsByType"] == dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])))
    assert got["totalEvents"] == sum(by_type.values())
    assert got["uniqueUsers"] == queries.count_unique_visitors(populated, start, end, sites)
    if website is None:
        raw = E.raw_summary(populated, start, end)
        assert (got["totalEvents"], got["uniqueUsers"]) == (raw["totalEvents"], raw["uniqueUsers"])


def test_services_without_a_cache_setting_use_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ANALYTICS_REDIS_URL", "redis://127.0.0.1:1/0")
    assert Services("sqlite:///:memory:").cache_kind == "redis"


def test_concurrent_misses_of_one_key_compute_once(tmp_path: Path) -> None:
    import threading

    from analytics_pipeline.warehouse import Warehouse

    url = f"sqlite:///{tmp_path / 'w.db'}"
    Warehouse(url)
    services = Services(url, "")
    calls = []

    def slow(_warehouse):
        calls.append(1)
        time.sleep(0.4)
        return {"n": 42}

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(services.cache_aside("t", "analytics:test:one", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and [a.json_value() for a in answers] == [{"n": 42}] * 8
    assert services.cache_aside("t", "analytics:test:one", slow).cached is True
