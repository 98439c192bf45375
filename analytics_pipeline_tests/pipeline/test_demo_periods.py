"""The demo reports on periods its data covers: a whole month, never a month with one day."""

from datetime import date, timedelta

import pytest

from analytics_pipeline.cli.demo import demo_report_period
from analytics_pipeline.reports.templates import load_templates
from analytics_pipeline.settings import REPO_ROOT

TEMPLATES = load_templates(REPO_ROOT / "report_templates").by_id()


@pytest.mark.parametrize("last", [date(2026, 11, 29), date(2027, 1, 30), date(2026, 10, 31), date(2024, 3, 1)])
def test_the_demo_s_62_days_always_hold_the_monthly_report_s_whole_month(last):
    first = last - timedelta(days=61)
    month = date.fromisoformat(demo_report_period(TEMPLATES["monthly-comprehensive"], first, last, None))
    assert month.day == 1 and first <= month
    next_month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert next_month - timedelta(days=1) <= last
    week = date.fromisoformat(demo_report_period(TEMPLATES["weekly-user-growth"], first, last, None))
    assert week.weekday() == 0 and week + timedelta(days=6) <= last
    assert demo_report_period(TEMPLATES["daily-activity-summary"], first, last, None) == last.isoformat()


def test_a_quarter_longer_than_the_data_falls_back_to_the_latest_period_with_statistics():
    assert demo_report_period(TEMPLATES["quarterly-performance"], date(2026, 9, 29), date(2026, 11, 29),
                              "2026-10-01") == "2026-10-01"
