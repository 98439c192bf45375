"""Any property values (text with control characters and any Unicode, numbers, booleans, null,
objects, arrays, missing) go through dimensions, filters and every aggregation without an error,
and SQLite and PostgreSQL store the same rows. ``ANALYTICS_TEST_HYPOTHESIS_EXAMPLES`` raises the
number of examples (default 12 here: each example loads both warehouses)."""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.metrics.compute import compute_day
from analytics_pipeline.metrics.spec import parse_metric
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import write_jsonl

EXAMPLES = max(1, int(os.environ.get("ANALYTICS_TEST_HYPOTHESIS_EXAMPLES", "200")) // 16)
FIRST_DAY = date(2024, 5, 1)
_days = itertools.count()

text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(text, st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                    st.booleans(), st.none(), st.sampled_from(["1", "1.0", "true", "(none)", "other", "c1", "c2"]),
                    st.sampled_from([1, 1.0, 2, 2.5]))
values = st.one_of(scalars, st.dictionaries(text, scalars, max_size=2), st.lists(scalars, max_size=2))
MISSING = object()
events = st.lists(st.tuples(st.one_of(values, st.just(MISSING)), st.sampled_from(["buy", "view", "pageview"]),
                            st.sampled_from(["u1", "u2", "u3"])), min_size=1, max_size=15)

METRICS = [parse_metric(raw, f"{raw['name']}.yaml")[0] for raw in (
    {"name": "by_x", "aggregation": "count", "dimensions": ["properties.x"], "dimension_limit": 3},
    {"name": "avg_x", "aggregation": {"function": "avg", "field": "properties.x"}, "dimensions": ["event_name"]},
    {"name": "sum_x", "aggregation": {"function": "sum", "field": "properties.x"}},
    {"name": "min_x", "aggregation": {"function": "min", "field": "properties.x"}},
    {"name": "max_x", "aggregation": {"function": "max", "field": "properties.x"}},
    {"name": "distinct_x", "aggregation": {"function": "count_distinct", "field": "properties.x"},
     "dimensions": ["visitor_id"], "dimension_limit": 1},
    {"name": "rate", "formula": "buy / view * 100", "dimensions": ["properties.x"], "dimension_limit": 2},
    {"name": "filtered", "aggregation": "count",
     "filters": [{"field": "properties.x", "op": "in", "values": ["c1", 1, True]},
                 {"field": "properties.x", "op": "!=", "value": "c2"}]},
    {"name": "present", "aggregation": {"function": "count", "field": "properties.x"},
     "filters": [{"field": "properties.x", "op": "exists"}]},
)]


@pytest.fixture
def both(tmp_path: Path, pg_database: str) -> tuple[Warehouse, Warehouse]:
    return Warehouse(f"sqlite:///{tmp_path / 'prop.db'}"), Warehouse(pg_database)


def _rows(result) -> list[tuple]:
    return sorted((r.website_id, repr(sorted(r.dimensions.items())), r.value, r.events) for r in result.rows)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=events)
def test_any_property_values_compute_the_same_on_both_backends(both, tmp_path: Path, batch) -> None:
    n = next(_days)
    day = FIRST_DAY + timedelta(days=n)
    lines = []
    for i, (value, name, visitor) in enumerate(batch):
        event = {"event_id": f"p{n}-{i}", "website_id": "w", "session_id": f"s{visitor}", "visitor_id": visitor,
                 "occurred_at": f"{day.isoformat()}T12:00:{i:02d}Z"}
        if name == "pageview":
            event.update(event_type="pageview", url_path="/")
        else:
            event.update(event_type="custom", event_name=name)
        if value is not MISSING:
            event["properties"] = {"x": value}
        lines.append(event)
    landing = tmp_path / f"landing-{n}"
    for warehouse in both:
        landing.mkdir(exist_ok=True)
        write_jsonl(landing / f"{warehouse.dialect}.jsonl", lines)
        result = ingest_landing(warehouse, landing, now=lambda: datetime(2030, 1, 1, tzinfo=timezone.utc), workers=0)
        assert result.loaded == len(lines), result.reasons
        (landing / f"{warehouse.dialect}.jsonl").unlink(missing_ok=True)

    for metric in METRICS:
        sqlite_rows = _rows(compute_day(both[0], metric, day))
        postgres_rows = _rows(compute_day(both[1], metric, day))
        assert sqlite_rows == postgres_rows, metric.name
        if metric.name == "by_x":
            assert sum(r[3] for r in sqlite_rows) == len(lines)
