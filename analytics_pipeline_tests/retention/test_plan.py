"""The guard and the boundary as pure logic: no warehouse, no Dagster."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from analytics_pipeline.retention.plan import (
    WebsiteDay,
    contiguous_ranges,
    guard_reasons,
    plan_retention,
    retention_cutoff,
)

TODAY = date(2024, 4, 30)
INGESTED = datetime(2024, 1, 31, 1, 0, tzinfo=timezone.utc)
BUILT = datetime(2024, 2, 1, 1, 0, tzinfo=timezone.utc)


def covered(site: str = "site-a", events: int = 10, **overrides) -> WebsiteDay:
    values = dict(website_id=site, events=events, last_ingested_at=INGESTED, daily_events=events,
                  daily_computed_at=BUILT, weekly_computed_at=BUILT, monthly_computed_at=BUILT)
    values.update(overrides)
    return WebsiteDay(**values)


def all_materialized(*days: date) -> dict[str, set[str]]:
    from analytics_pipeline.partitions import period_start

    return {g: {period_start(g, d).isoformat() for d in days} for g in ("day", "week", "month")}


def test_cutoff_is_today_minus_retention_days_and_that_day_is_kept():
    assert retention_cutoff(TODAY, 90) == date(2024, 1, 31)
    days = {date(2024, 1, 30): [covered()], date(2024, 1, 31): [covered()], date(2024, 2, 1): [covered()]}
    plan = plan_retention(TODAY, 90, days, all_materialized(*days), dirty=())
    # 2024-01-30 is 91 days old: deleted. 2024-01-31 is exactly 90 days old: kept (not eligible).
    assert plan.days_to_drop == [date(2024, 1, 30)]
    assert [d.day for d in plan.decisions] == [date(2024, 1, 30)]
    assert plan.events_to_delete == 10


def test_retention_days_must_be_positive():
    with pytest.raises(ValueError):
        retention_cutoff(TODAY, 0)


def test_complete_statistics_pass_the_guard():
    day = date(2024, 1, 10)
    assert guard_reasons(day, [covered(), covered("site-b", 3)], all_materialized(day), ()) == []


def test_missing_materialization_keeps_the_day():
    day = date(2024, 1, 10)  # a Wednesday: week 2024-01-08, month 2024-01-01
    materialized = all_materialized(day)
    materialized["week"] = set()
    reasons = guard_reasons(day, [covered()], materialized, ())
    assert reasons == ["weekly_stats partition 2024-01-08 has never been materialized"]


def test_dirty_mark_on_the_month_keeps_the_day():
    day = date(2024, 1, 10)
    reasons = guard_reasons(day, [covered()], all_materialized(day), {("month", date(2024, 1, 1))})
    assert reasons == ["monthly_stats partition 2024-01-01 is stale: events arrived after it was built"]


def test_missing_or_short_daily_row_keeps_the_day():
    day = date(2024, 1, 10)
    reasons = guard_reasons(day, [covered(daily_events=None, daily_computed_at=None),
                                  covered("site-b", events=5, daily_events=4)], all_materialized(day), ())
    assert reasons == ["no daily_stats row for website site-a (10 raw events)",
                       "daily_stats for website site-b counts 4 events, the raw day has 5"]


def test_event_ingested_after_the_weekly_build_keeps_the_day():
    day = date(2024, 1, 10)
    late = datetime(2024, 2, 2, tzinfo=timezone.utc)
    reasons = guard_reasons(day, [covered(last_ingested_at=late, daily_computed_at=late,
                                          monthly_computed_at=late)], all_materialized(day), ())
    assert len(reasons) == 1 and reasons[0].startswith("weekly_stats 2024-01-08 for website site-a was computed at")


def test_missing_weekly_row_keeps_the_day():
    day = date(2024, 1, 10)
    reasons = guard_reasons(day, [covered(weekly_computed_at=None)], all_materialized(day), ())
    assert reasons == ["no weekly_stats row for website site-a in period 2024-01-08"]


def test_empty_day_has_nothing_to_lose():
    assert guard_reasons(date(2024, 1, 10), [], {}, ()) == []


def test_sessions_stop_at_the_first_kept_day():
    days = {date(2024, 1, 10): [covered()], date(2024, 1, 20): [covered(daily_events=None)],
            date(2024, 1, 25): [covered()]}
    plan = plan_retention(TODAY, 90, days, all_materialized(*days), dirty=())
    assert plan.days_to_drop == [date(2024, 1, 10), date(2024, 1, 25)]
    assert [k.day for k in plan.days_kept] == [date(2024, 1, 20)]
    assert plan.sessions_before == date(2024, 1, 20)
    clean = plan_retention(TODAY, 90, {date(2024, 1, 10): [covered()]}, all_materialized(date(2024, 1, 10)), ())
    assert clean.sessions_before == date(2024, 1, 31)


def test_contiguous_ranges():
    d = date
    assert contiguous_ranges([d(2024, 1, 3), d(2024, 1, 1), d(2024, 1, 2), d(2024, 1, 5)]) == [
        (d(2024, 1, 1), d(2024, 1, 4)), (d(2024, 1, 5), d(2024, 1, 6))]
