"""PostgreSQL: retention finds a dropped day's idempotency keys through event_keys' primary key,
so its cost follows the day, not the table; and it deletes exactly that day's keys.

event_keys has no index on occurred_at (migration 040): a BRIN index there cost ingestion time
on every key and, once retention had freed pages that new keys reused, no longer narrowed a
day's delete at all. Without the probe setting the planner hashes the day's ids and reads all
of event_keys, which holds the whole retention period."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from analytics_pipeline.retention.run import partition_name
from analytics_pipeline.warehouse import Warehouse

DAYS = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
PER_DAY = 20_000
pytestmark = pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)


@pytest.fixture
def pg(warehouse: Warehouse) -> Warehouse:
    with warehouse.begin() as conn:
        for number, day in enumerate(DAYS):
            conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})
            # Ids in the shapes clients send (uuid-like text), interleaved across days so that
            # no physical order of event_keys could stand in for the day.
            conn.execute(sa.text(
                "INSERT INTO events (event_id, website_id, session_id, visitor_id, event_type, occurred_at, "
                "ingested_at, source_file, batch_id) "
                "SELECT md5(:day || '/' || i), 'site', 's-' || i % 97, 'v-' || i % 89, 'pageview', "
                "CAST(:day AS date) + i * interval '4 second', now(), 'f.jsonl', :batch "
                "FROM generate_series(1, :n) AS i"), {"day": day.isoformat(), "n": PER_DAY, "batch": number + 1})
        conn.execute(sa.text("INSERT INTO event_keys (event_id, occurred_at) "
                             "SELECT event_id, occurred_at FROM events ORDER BY md5(event_id)"))
        conn.execute(sa.text("ANALYZE event_keys"))
        for day in DAYS:
            conn.exec_driver_sql(f"ANALYZE {partition_name(day)}")
    return warehouse


def test_event_keys_has_no_occurred_at_index(pg: Warehouse) -> None:
    with pg.connect() as conn:
        indexes = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'event_keys'")).scalars().all()
    assert sorted(indexes) == ["event_keys_pkey"]


def test_a_day_keys_are_found_through_the_primary_key(pg: Warehouse) -> None:
    delete = pg.sql("delete_old_event_keys", partition=partition_name(DAYS[1]))
    with pg.begin() as conn:
        conn.execute(pg.sql("set_retention_key_probes"))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + delete.text)).scalars())
        assert "Index Scan using event_keys_pkey on event_keys" in plan, plan
        assert "Seq Scan on event_keys" not in plan and "Hash" not in plan, plan
        deleted = conn.execute(delete).rowcount
    assert deleted == PER_DAY
    with pg.connect() as conn:
        left = dict(conn.execute(sa.text(
            "SELECT occurred_at::date, count(*) FROM event_keys GROUP BY 1")).all())
        orphans = conn.execute(sa.text(
            f"SELECT count(*) FROM {partition_name(DAYS[1])} e "
            "WHERE EXISTS (SELECT 1 FROM event_keys k WHERE k.event_id = e.event_id)")).scalar_one()
    assert left == {DAYS[0]: PER_DAY, DAYS[2]: PER_DAY}
    assert orphans == 0


def test_the_setting_ends_with_its_transaction(pg: Warehouse) -> None:
    with pg.begin() as conn:
        conn.execute(pg.sql("set_retention_key_probes"))
        assert conn.execute(sa.text("SHOW enable_hashjoin")).scalar_one() == "off"
    with pg.begin() as conn:  # the same pooled connection, a new transaction
        assert conn.execute(sa.text("SHOW enable_hashjoin")).scalar_one() == "on"
        assert conn.execute(sa.text("SHOW enable_mergejoin")).scalar_one() == "on"


# Any id validation lets through (no NUL, 1-128 code points): quotes, backslashes, LIKE's % and
# _, line ends, control and bidi characters, formula-like text, and near twins (a trailing space,
# another case, a decomposed accent) that must not be taken for one another.
TWINS = ["a", "a ", " a", "A", "\u00e9", "e\u0301", "=HYPERLINK(\"x\")", "'; DROP TABLE events; --", "50%_\\",
         "\t\r\n", "\x1b[31m\x07", "\u202eevil", "\U0001f600", "x" * 128]
IDS = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=128)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(IDS, max_size=25, unique=True), st.data())
def test_exactly_the_day_keys_go_whatever_their_text(warehouse: Warehouse, extra: list[str], data) -> None:
    ids = list(dict.fromkeys(TWINS + extra))  # every twin in every example, split at random
    dropped = set(data.draw(st.lists(st.sampled_from(ids), unique=True), label="ids of the dropped day"))
    day, other = date(2031, 5, 1), date(2031, 5, 2)
    try:
        with warehouse.begin() as conn:
            for d in (day, other):
                conn.execute(warehouse.sql("ensure_event_partition"), {"day": d})
            for event_id in ids:
                at = f"{day if event_id in dropped else other} 12:00:00+00"
                conn.execute(sa.text(
                    "INSERT INTO events (event_id, website_id, session_id, visitor_id, event_type, occurred_at, "
                    "ingested_at, source_file, batch_id) "
                    "VALUES (:id, 'site', 's', 'v', 'pageview', CAST(:at AS timestamptz), now(), 'f.jsonl', 1)"),
                    {"id": event_id, "at": at})
                conn.execute(sa.text("INSERT INTO event_keys (event_id, occurred_at) VALUES (:id, CAST(:at AS timestamptz))"),
                             {"id": event_id, "at": at})
        with warehouse.begin() as conn:
            conn.execute(warehouse.sql("set_retention_key_probes"))
            deleted = conn.execute(warehouse.sql("delete_old_event_keys", partition=partition_name(day))).rowcount
            left = set(conn.execute(sa.text("SELECT event_id FROM event_keys")).scalars())
        assert deleted == len(dropped)
        assert left == set(ids) - dropped
    finally:
        with warehouse.begin() as conn:
            conn.execute(sa.text("TRUNCATE event_keys"))
            for d in (day, other):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {partition_name(d)}")
