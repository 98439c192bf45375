"""SQLite's rows travel as a database image: a parser process binds a chunk's rows into an
in-memory database (``prepare.sqlite_image``), and the loader stores them with one
``INSERT ... SELECT`` from it. What comes back from ``events`` is exactly what the rows held,
the first of two rows with one event id wins, a row the database refuses is found by bisecting
the image's row ranges, and the pooled connection keeps no chunk afterwards."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.load import IMAGE_SCHEMA, load_chunk
from analytics_pipeline.ingestion.prepare import PreparedChunk, sqlite_image
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.ingestion.helpers import ledger_file

# Any text SQLite can hold as UTF-8, NUL and every line end included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
ids = st.sampled_from(["a", "b", "poison-1", "c", "poison-2", "d"]) | text
stamps = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: d.isoformat(" ", "microseconds"))
rows = st.tuples(ids, text, text, text, st.sampled_from(["pageview", "custom"]), st.none() | text,
                 st.none() | text, st.none() | text, stamps, st.none() | text)
COLUMNS = ("event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer, "
           "occurred_at, properties")


def _load(warehouse: Warehouse, values: list[tuple], image: bool, name: str):
    chunk = PreparedChunk(first_line=1, last_line=len(values), lines=len(values), accepted=len(values),
                          row_lines=list(range(1, len(values) + 1)))
    if image:  # as a parser process hands it over
        chunk.rows_image = sqlite_image(values)
    else:  # prepared on the loader's own thread (a small file, a run's first chunk)
        chunk.rows = list(values)
    file_id = ledger_file(warehouse, name)
    with warehouse.begin() as conn:
        return load_chunk(warehouse, conn, chunk, file_id, name,
                          raw_lines=lambda lines: {line: f"line {line}" for line in lines})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(rows, min_size=1, max_size=10), image=st.booleans())
def test_stored_rows_are_the_rows_the_first_id_wins_and_refused_lines_are_found(
        tmp_path_factory, values: list[tuple], image: bool) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path_factory.mktemp('image') / 'warehouse.db'}")
    with warehouse.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN substr(NEW.event_id, 1, 6) = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison event refused by trigger'); END")

    outcome = _load(warehouse, values, image, "chunk.jsonl")

    expected, seen, refused = [], set(), []
    for line, row in enumerate(values, start=1):
        if row[0].startswith("poison"):
            refused.append(line)
        elif row[0] not in seen:
            seen.add(row[0])
            expected.append(row)
    assert [r[0] for r in outcome.rejections] == refused
    assert all(r[2] == "the database refused this line: poison event refused by trigger"
               for r in outcome.rejections)
    assert outcome.loaded == len(expected)
    assert outcome.duplicates == len(values) - len(expected) - len(refused)
    with warehouse.connect() as conn:
        stored = conn.exec_driver_sql(f"SELECT {COLUMNS}, ingested_at, source_file, batch_id FROM events "
                                      "ORDER BY rowid").fetchall()
    assert [tuple(r[:10]) for r in stored] == expected
    assert {tuple(r[11:]) for r in stored} <= {("chunk.jsonl", outcome.batch_id)}
    assert all(len(r[10]) == len("2024-03-01 12:00:00.000000") for r in stored)  # ingested_at: when it loaded


def test_a_pooled_connection_keeps_no_chunk_and_a_second_chunk_loads_on_it(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    row = ("e1", "w", "s", "v", "pageview", None, "/", None, "2024-03-01 10:00:00.000000", None)
    first = _load(warehouse, [row, ("e2",) + row[1:]], True, "one.jsonl")
    second = _load(warehouse, [("e2",) + row[1:], ("e3",) + row[1:]], True, "two.jsonl")
    assert (first.loaded, second.loaded, second.duplicates) == (2, 1, 1)
    with warehouse.begin() as conn:
        db = conn.connection.driver_connection
        assert (0, "main") in [tuple(r[:2]) for r in db.execute("PRAGMA database_list")]
        assert db.execute(f"SELECT count(*) FROM {IMAGE_SCHEMA}.chunk_rows").fetchone() == (0,)
        assert conn.exec_driver_sql("SELECT event_id, source_file FROM events ORDER BY event_id").fetchall() == [
            ("e1", "one.jsonl"), ("e2", "one.jsonl"), ("e3", "two.jsonl")]
