"""Each rule condition firing and not firing, on plain rows (no database)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from analytics_pipeline.alerts.evaluate import evaluate_rule, window_start
from analytics_pipeline.alerts.rules import AlertRule

DAY = date(2024, 3, 29)


def rows(site: str, values: dict[date, float], metric: str = "total_pageviews", **extra: float) -> list[dict]:
    return [{"website_id": site, "date": d, metric: v, **extra} for d, v in values.items()]


def steady(site: str = "shop", days: int = 28, base: float = 1000, last: float | None = None) -> list[dict]:
    """``days`` days of pageviews alternating base +- 2%, then DAY with ``last``."""
    values = {DAY - timedelta(days=i): base * (1.02 if i % 2 else 0.98) for i in range(1, days + 1)}
    if last is not None:
        values[DAY] = last
    return rows(site, values)


def rule(condition: str, threshold: float, **kw) -> AlertRule:
    return AlertRule(name=f"r_{condition}", metric=kw.pop("metric", "total_pageviews"),
                     condition=condition, threshold=threshold, **kw)


@pytest.mark.parametrize(("condition", "threshold", "value", "fires"), [
    ("above", 1500, 1501, True), ("above", 1500, 1500, False),
    ("below", 500, 499, True), ("below", 500, 500, False),
])
def test_above_and_below(condition: str, threshold: float, value: float, fires: bool) -> None:
    result = evaluate_rule(rule(condition, threshold), steady(last=value), DAY)
    assert result.checked == 1
    assert [f.value for f in result.firings] == ([value] if fires else [])


def test_change_pct_against_the_previous_day() -> None:
    data = rows("shop", {DAY - timedelta(days=1): 1000, DAY: 400})
    drop = evaluate_rule(rule("change_pct", 50, direction="down"), data, DAY)
    assert [(f.value, f.baseline, round(f.score, 1)) for f in drop.firings] == [(400, 1000, -60.0)]
    assert "fell 60.0% from 1,000 to 400" in drop.firings[0].message
    assert evaluate_rule(rule("change_pct", 50, direction="up"), data, DAY).firings == []
    assert evaluate_rule(rule("change_pct", 70), data, DAY).firings == []
    assert len(evaluate_rule(rule("change_pct", 60), data, DAY).firings) == 1


def test_anomaly_fires_on_a_planted_spike_and_not_on_a_normal_day() -> None:
    spike = evaluate_rule(rule("anomaly", 3), steady(last=5000), DAY)
    assert len(spike.firings) == 1
    firing = spike.firings[0]
    assert firing.baseline == pytest.approx(1000)
    assert firing.score > 100  # sd is 20: (5000 - 1000) / ~20.4
    assert "standard deviations above the trailing 28-day mean 1,000" in firing.message
    assert evaluate_rule(rule("anomaly", 3), steady(last=1010), DAY).firings == []
    # direction: a spike is not a drop
    assert evaluate_rule(rule("anomaly", 3, direction="down"), steady(last=5000), DAY).firings == []
    assert len(evaluate_rule(rule("anomaly", 3, direction="down"), steady(last=10), DAY).firings) == 1


def test_anomaly_uses_only_the_trailing_window_and_needs_history() -> None:
    # a huge day 40 days back is outside the 28-day window and does not inflate the sd
    data = steady(last=5000) + rows("shop", {DAY - timedelta(days=40): 10**6})
    assert len(evaluate_rule(rule("anomaly", 3), data, DAY).firings) == 1
    short = evaluate_rule(rule("anomaly", 3), steady(days=10, last=5000), DAY)
    assert short.firings == [] and short.checked == 0
    assert "10 day(s) of history, the anomaly check needs 14" in short.not_evaluated[0]
    assert window_start([rule("anomaly", 3), rule("above", 1)], DAY) == DAY - timedelta(days=28)


def test_a_flat_history_makes_any_change_an_anomaly() -> None:
    flat = rows("shop", {DAY - timedelta(days=i): 100 for i in range(1, 29)} | {DAY: 101})
    firing = evaluate_rule(rule("anomaly", 3), flat, DAY).firings[0]
    assert math.isinf(firing.score)
    same = rows("shop", {DAY - timedelta(days=i): 100 for i in range(0, 29)})
    assert evaluate_rule(rule("anomaly", 3), same, DAY).firings == []


def test_each_website_on_its_own_a_named_website_and_all_combined() -> None:
    data = steady("shop", last=5000) + steady("blog", last=1000)
    each = evaluate_rule(rule("anomaly", 3), data, DAY)
    assert [f.website for f in each.firings] == ["shop"] and each.checked == 2
    assert evaluate_rule(rule("anomaly", 3, website="blog"), data, DAY).firings == []
    combined = evaluate_rule(rule("above", 5500, website="all"), data, DAY)
    assert [(f.website, f.value) for f in combined.firings] == [("all", 6000)]
    missing = evaluate_rule(rule("above", 1, website="nope"), data, DAY)
    assert missing.firings == [] and "no statistics for website 'nope'" in missing.not_evaluated[0]


def test_a_day_without_a_row_counts_zero_for_counts_but_not_for_ratios() -> None:
    data = rows("shop", {DAY - timedelta(days=1): 1000})  # nothing on DAY: the site went dark
    assert [f.value for f in evaluate_rule(rule("below", 10), data, DAY).firings] == [0.0]
    ratio = [{"website_id": "shop", "date": DAY - timedelta(days=1), "bounce_rate": 0.5}]
    result = evaluate_rule(rule("above", 0.1, metric="bounce_rate"), ratio, DAY)
    assert result.firings == [] and "no bounce_rate on that day" in result.not_evaluated[0]


def test_combined_ratios_are_weighted_by_sessions_and_custom_event_counts_work() -> None:
    data = [
        {"website_id": "a", "date": DAY, "bounce_rate": 1.0, "sessions_started": 10,
         "events_by_type": '{"pageview": 5, "signup": 2}'},
        {"website_id": "b", "date": DAY, "bounce_rate": 0.0, "sessions_started": 30,
         "events_by_type": {"pageview": 9, "signup": 5}},
    ]
    bounce = evaluate_rule(rule("above", 0.2, metric="bounce_rate", website="all"), data, DAY)
    assert [f.value for f in bounce.firings] == [0.25]
    signups = evaluate_rule(rule("below", 3, metric="events_by_type.signup"), data, DAY)
    assert [(f.website, f.value) for f in signups.firings] == [("a", 2.0)]
