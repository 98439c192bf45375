"""Hostile lines through real ingestion on both warehouses: nothing stops a file, every line
ends up in exactly one place, SQLite and PostgreSQL decide every line the same way, and a line
the database itself refuses is isolated (the chunk is bisected) instead of blocking the file.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.conftest import _empty_postgres
from analytics_pipeline_tests.factories import NOW, event, jsonl_bytes, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ingest, ledger, non_blank_lines, rejections, stored_events
from analytics_pipeline_tests.ingestion.hostile import examples, jsonl_file, jsonl_line

_files = itertools.count()


def _outcome(warehouse: Warehouse, name: str) -> tuple[set[str], list[tuple[int, str]]]:
    with warehouse.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT event_id FROM events WHERE source_file = :f"), {"f": name}).scalars())
    return ids, [(r["line_number"], r["reason"]) for r in rejections(warehouse, name)]


# Each example ingests a file into both warehouses: the large profile runs 1,000 of them.
@settings(max_examples=examples(15, 1_000), derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=10), bom=st.booleans(), crlf=st.booleans())
def test_both_warehouses_decide_every_hostile_line_alike(
    tmp_path_factory: pytest.TempPathFactory, pg_database: str, lines: list[bytes], bom: bool, crlf: bool
) -> None:
    n = next(_files)
    if n == 0:
        _empty_postgres(pg_database)
    base = tmp_path_factory.getbasetemp() / "hostile"
    base.mkdir(exist_ok=True)
    warehouses = {"sqlite": Warehouse(f"sqlite:///{base / 'warehouse.db'}"), "postgresql": Warehouse(pg_database)}
    name = f"hostile-{n}.jsonl"
    sentinel = orjson.dumps(event(event_id=f"sentinel-{n}"))
    data = jsonl_file([*lines, sentinel], bom, crlf)
    outcomes = {}
    for backend, warehouse in warehouses.items():
        landing = base / f"landing-{backend}-{n}"
        landing.mkdir()
        (landing / name).write_bytes(data)
        result = ingest(warehouse, landing, chunk_lines=4)
        (file_result,) = result.files
        first = data.split(b"\n", 1)[0]
        bom_only = first.startswith(b"\xef\xbb\xbf") and not first[3:].strip()
        assert file_result.lines == non_blank_lines(data) - bom_only
        assert file_result.loaded + file_result.duplicates + file_result.rejected == file_result.lines
        assert count(warehouse, "rejected_events", "source_file = :f", f=name) == file_result.rejected
        assert count(warehouse, "events", "event_id = :e", e=f"sentinel-{n}") == 1
        outcomes[backend] = (_outcome(warehouse, name), file_result.loaded, file_result.duplicates)
    assert outcomes["sqlite"] == outcomes["postgresql"]


def test_events_before_the_start_date_never_reach_partitions_or_sessions(warehouse: Warehouse, landing_dir: Path) -> None:
    times = ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+05:00", "2023-12-31T23:59:59Z",
             "2024-01-01T05:44:59+05:45", "2024-01-01T05:45:00+05:45", "9999-12-31T23:59:59-12:00"]
    write_jsonl(landing_dir / "edges.jsonl",
                [event(event_id=f"t{i}", session_id=f"s{i}", occurred_at=t) for i, t in enumerate(times)])
    result = ingest(warehouse, landing_dir)
    assert (result.loaded, result.rejected) == (1, 5)
    assert set(stored_events(warehouse)) == {"t4"}  # 2024-01-01T00:00:00Z exactly
    reasons = [r["reason"] for r in rejections(warehouse)]
    assert reasons[0] == ("occurred_at is before ANALYTICS_START_DATE 2024-01-01 (no partition can hold it): "
                          "'0001-01-01T00:00:00Z'")
    assert reasons[1] == "occurred_at is outside the years 1-9999 in UTC: '0001-01-01T00:30:00+05:00'"
    assert reasons[2].startswith("occurred_at is before ANALYTICS_START_DATE 2024-01-01")
    assert reasons[3].startswith("occurred_at is before ANALYTICS_START_DATE 2024-01-01")
    assert reasons[4] == "occurred_at is outside the years 1-9999 in UTC: '9999-12-31T23:59:59-12:00'"
    if warehouse.is_postgres:
        with warehouse.connect() as conn:
            partitions = conn.execute(sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")).scalars().all()
        assert partitions == ["events_p20240101"]
    sessions = update_sessions(warehouse, timeout_minutes=30, now=NOW)
    assert sessions is not None
    assert count(warehouse, "sessions") == 1


def _install_refusing_trigger(warehouse: Warehouse) -> None:
    """A real database rule validation knows nothing of: ids starting 'poison' are refused."""
    with warehouse.begin() as conn:
        if warehouse.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN substr(NEW.event_id, 1, 6) = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poison event refused by trigger'); END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF left(NEW.event_id, 6) = 'poison' THEN RAISE EXCEPTION 'poison event refused by trigger'; "
                "END IF; RETURN NEW; END $$")
            conn.exec_driver_sql("CREATE TRIGGER refuse_poison BEFORE INSERT ON event_keys "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_poison()")


def _drop_refusing_trigger(warehouse: Warehouse) -> None:
    with warehouse.begin() as conn:
        if warehouse.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_poison")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_poison ON event_keys")
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS refuse_poison()")


def test_a_line_the_database_refuses_is_rejected_with_its_reason_and_the_rest_loads(
    warehouse: Warehouse, landing_dir: Path
) -> None:
    _install_refusing_trigger(warehouse)
    try:
        write_jsonl(landing_dir / "a_first.jsonl", [event(event_id="old-1")])
        assert ingest(warehouse, landing_dir).loaded == 1
        items = [event(event_id=f"ok-{i}") for i in range(10)]
        items[2] = event(event_id="poison-1")
        items[7] = event(event_id="poison-2")
        items[8] = event(event_id="old-1")  # a duplicate in the same chunk: PostgreSQL's slow path
        data = jsonl_bytes(items)
        (landing_dir / "b_mixed.jsonl").write_bytes(data)
        write_jsonl(landing_dir / "c_next.jsonl", [event(event_id="next-1"), event(event_id="next-2")])

        result = ingest(warehouse, landing_dir, chunk_lines=4)

        mixed, following = result.files
        assert (mixed.lines, mixed.loaded, mixed.duplicates, mixed.rejected) == (10, 7, 1, 2)
        assert (following.loaded, following.rejected) == (2, 0)
        stored = set(stored_events(warehouse))
        assert {"poison-1", "poison-2"}.isdisjoint(stored)
        assert {f"ok-{i}" for i in (0, 1, 3, 4, 5, 6, 9)} | {"old-1", "next-1", "next-2"} == stored
        rows = rejections(warehouse, "b_mixed.jsonl")
        assert [(r["line_number"], r["reason"]) for r in rows] == [
            (3, "the database refused this line: poison event refused by trigger"),
            (8, "the database refused this line: poison event refused by trigger"),
        ]
        raw_lines = data.decode().splitlines()
        assert [r["raw"] for r in rows] == [raw_lines[2], raw_lines[7]]
        row = next(r for r in ledger(warehouse) if r["path"] == "b_mixed.jsonl")
        assert (row["status"], row["lines"], row["loaded"], row["duplicates"], row["rejected"]) == ("done", 10, 7, 1, 2)
    finally:
        _drop_refusing_trigger(warehouse)
