"""The reconciliation behind the statistics asset checks: silent on good data, naming the
website and period when a stored number disagrees. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from analytics_pipeline.stats.build import build_period
from analytics_pipeline.stats.checks import daily_mismatches, period_pageview_mismatches
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.stats.helpers import case, execute, load_case

WEEK = date(2024, 3, 4)
WEEK_DAYS = [WEEK + timedelta(days=i) for i in range(7)]
DAYS = [date(2024, 2, 29)] + [date(2024, 3, d) for d in range(1, 12)]  # every day with events


@pytest.fixture
def built(warehouse: Warehouse, landing_dir: Path) -> Warehouse:
    """The ``periods`` case with its days, the week of 2024-03-04 and March built."""
    load_case(warehouse, landing_dir, case("periods"))
    for day in DAYS:
        build_period(warehouse, "day", day)
    build_period(warehouse, "week", WEEK)
    build_period(warehouse, "month", date(2024, 3, 1))
    return warehouse


def _days(rows: list[dict]) -> list[tuple[str, date]]:
    return sorted((r["website_id"], Warehouse.to_date(r["day"])) for r in rows)


def test_good_data_reconciles(built: Warehouse) -> None:
    assert daily_mismatches(built, DAYS[0], DAYS[-1]) == []
    assert period_pageview_mismatches(built, "week", WEEK) == []
    assert period_pageview_mismatches(built, "month", date(2024, 3, 1)) == []


def test_a_tampered_daily_row_is_named_by_website_and_day(built: Warehouse) -> None:
    execute(built, "UPDATE daily_stats SET total_pageviews = total_pageviews + 1 "
                   "WHERE website_id = 'site-a' AND date = :day", day=built.day(date(2024, 3, 4)))

    found = daily_mismatches(built, DAYS[0], DAYS[-1])

    assert _days(found) == [("site-a", date(2024, 3, 4))]
    assert (found[0]["events_pageviews"], found[0]["stats_pageviews"]) == (4, 5)
    assert (found[0]["events_custom"], found[0]["stats_custom"]) == (1, 1)
    assert daily_mismatches(built, date(2024, 3, 5), date(2024, 3, 31)) == []


def test_a_tampered_custom_count_is_a_mismatch(built: Warehouse) -> None:
    execute(built, "UPDATE daily_stats SET total_custom_events = 0 "
                   "WHERE website_id = 'site-a' AND date = :day", day=built.day(date(2024, 3, 5)))

    assert _days(daily_mismatches(built, WEEK_DAYS[0], WEEK_DAYS[-1])) == [("site-a", date(2024, 3, 5))]


def test_missing_daily_rows_and_rows_without_events_are_mismatches(built: Warehouse) -> None:
    execute(built, "DELETE FROM daily_stats WHERE website_id = 'site-b' AND date = :day",
            day=built.day(date(2024, 3, 5)))
    execute(built, "DELETE FROM events WHERE website_id = 'site-a' AND session_id = 'p1-s2'")

    found = daily_mismatches(built, WEEK_DAYS[0], WEEK_DAYS[-1])

    assert _days(found) == [("site-a", date(2024, 3, 6)), ("site-b", date(2024, 3, 5))]
    by_site = {r["website_id"]: r for r in found}
    assert (by_site["site-b"]["events_pageviews"], by_site["site-b"]["stats_pageviews"]) == (1, None)
    assert (by_site["site-a"]["events_pageviews"], by_site["site-a"]["stats_pageviews"]) == (0, 1)


def test_a_week_with_a_missing_day_fails_the_sum_of_days(built: Warehouse) -> None:
    execute(built, "DELETE FROM daily_stats WHERE date = :day", day=built.day(date(2024, 3, 6)))

    found = period_pageview_mismatches(built, "week", WEEK)

    assert [(r["website_id"], r["period_pageviews"], r["daily_sum"], r["days_with_stats"]) for r in found] == [
        ("site-a", 7, 6, 3)]
    month = period_pageview_mismatches(built, "month", date(2024, 3, 1))
    assert [(r["website_id"], r["period_pageviews"], r["daily_sum"]) for r in month] == [("site-a", 10, 9)]


def test_a_week_built_before_its_days_fails_the_sum_of_days(warehouse: Warehouse, landing_dir: Path) -> None:
    load_case(warehouse, landing_dir, case("periods"))
    build_period(warehouse, "week", WEEK)
    build_period(warehouse, "day", date(2024, 3, 4))

    found = period_pageview_mismatches(warehouse, "week", WEEK)

    assert sorted((r["website_id"], r["period_pageviews"], r["daily_sum"]) for r in found) == [
        ("site-a", 7, 4), ("site-b", 1, 0)]
