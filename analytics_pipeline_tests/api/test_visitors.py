"""The visitor index counts exactly what ``count(DISTINCT visitor_id)`` counts, for any range
and website filter, and stays exact when late events arrive or old events are deleted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from analytics_pipeline.api.queries import SiteFilter, count_unique_visitors
from analytics_pipeline.api.visitors import VisitorIndex
from analytics_pipeline_tests.cache.conftest import at, day, load

FILTERS = [SiteFilter(), SiteFilter(("site-a",)), SiteFilter(("site-b",)), SiteFilter(None, ("site-a",)),
           SiteFilter(("nope",))]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 95 * 24), st.integers(0, 95 * 24), st.sampled_from(FILTERS))
def test_same_as_count_distinct(populated, start_h: int, length_h: int, sites: SiteFilter) -> None:
    index = VisitorIndex(min_days=0)
    start = at(day(92), 0, 0) + timedelta(hours=start_h)
    end = start + timedelta(hours=length_h)
    assert index.count(populated, start, end, sites) == count_unique_visitors(populated, start, end, sites)


def test_late_events_and_deleted_days_are_seen(populated, landing_dir: Path) -> None:
    index = VisitorIndex(min_days=0)
    start, end = at(day(90), 0, 0), at(day(0), 0, 0)
    assert index.count(populated, start, end, SiteFilter()) == 5  # v1 v2 v3 v4 v5
    assert index.count(populated, start, end, SiteFilter(("site-b",))) == 2  # v1 v4
    load(populated, landing_dir, [("site-b", "v7", "b7", "pageview", "/x", None, at(day(30), 8))], "late.jsonl")
    assert index.count(populated, start, end, SiteFilter()) == 6
    assert index.count(populated, start, end, SiteFilter(("site-b",))) == 3
    with populated.begin() as conn:  # retention of the oldest day (85 days ago: v5), as retention records it
        gone = conn.execute(sa.text("DELETE FROM events WHERE occurred_at < :cut"),
                            {"cut": populated.ts(at(day(84), 0, 0))}).rowcount
        if populated.is_postgres:
            conn.execute(sa.text("DELETE FROM event_keys WHERE occurred_at < :cut"), {"cut": populated.ts(at(day(84), 0, 0))})
        conn.execute(populated.sql("insert_retention_dropped_day"),
                     {"day": populated.day(day(85)), "events": gone, "dropped_at": populated.ts(at(day(0), 0, 0)),
                      "run_id": None})
    assert index.count(populated, start, end, SiteFilter()) == 5 == count_unique_visitors(populated, start, end, SiteFilter())


def test_past_its_size_limit_it_counts_in_sql(populated) -> None:
    index = VisitorIndex(max_visitors=2, min_days=0)
    start, end = at(day(90), 0, 0), at(day(0), 0, 0)
    assert index.count(populated, start, end, SiteFilter()) == 5
    assert index.full and not index.days
    assert index.count(populated, start, end, SiteFilter()) == 5
