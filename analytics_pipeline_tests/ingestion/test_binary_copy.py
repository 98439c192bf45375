"""PostgreSQL's rows travel as binary COPY: the compiled ``copy_stream`` and its Python twin
cut the same rows out of a chunk and give each the batch's columns, and what they send comes
back from the server exactly as the rows held it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion import prepare
from analytics_pipeline.ingestion.prepare import _copy_stream, binary_key, binary_row, binary_tail, timestamp_field

text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
stamps = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: d.isoformat(" ", "microseconds"))
rows = st.tuples(text, text, text, text, st.sampled_from(["pageview", "custom"]), st.none() | text,
                 st.none() | text, st.none() | text, stamps, st.none() | st.just('{"a": [1, "\\t"]}'))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(rows, max_size=12), lo=st.integers(0, 14), span=st.integers(-1, 14))
def test_compiled_and_python_streams_are_the_same_bytes(values: list[tuple], lo: int, span: int) -> None:
    if prepare.compiled is None:
        pytest.skip("the compiled fast path is not built")
    data = b"".join(binary_row(v) for v in values)
    keys = b"".join(binary_key(v[0], v[8]) for v in values)
    hi = -1 if span < 0 else lo + span
    tail = timestamp_field(datetime(2024, 3, 1, tzinfo=timezone.utc)) + b"\x00\x00\x00\x01x"
    assert prepare.compiled.copy_stream(data, 10, tail, lo, hi) == _copy_stream(data, 10, tail, lo, hi)
    assert prepare.compiled.copy_stream(keys, 2, b"", lo, hi) == _copy_stream(keys, 2, b"", lo, hi)
    stream, count = _copy_stream(data, 10, tail, lo, hi)
    assert count == len(values[lo:hi if hi >= 0 else None])
    assert stream.startswith(prepare.COPY_HEADER) and stream.endswith(prepare.COPY_TRAILER)


def test_a_stream_that_is_not_whole_rows_is_refused() -> None:
    data = binary_row(("e", "s", "s", "v", "pageview", None, "/", None, "2024-03-01 10:00:00.000000", None))
    for copy_stream in filter(None, (_copy_stream, getattr(prepare.compiled, "copy_stream", None))):
        with pytest.raises(ValueError, match="not whole binary COPY rows"):
            copy_stream(data[:-3], 10, b"", 0, -1)


@pytest.mark.parametrize("stamp", ["1000-01-01 00:00:00.000000", "1999-12-31 23:59:59.999999",
                                   "2000-01-01 00:00:00.000000", "2024-02-29 12:34:56.789012",
                                   "9999-12-31 23:59:59.999999"])
def test_timestamps_are_microseconds_from_2000(stamp: str) -> None:
    expected = (datetime.fromisoformat(stamp) - datetime(2000, 1, 1)) // timedelta(microseconds=1)
    assert timestamp_field(stamp) == b"\x00\x00\x00\x08" + expected.to_bytes(8, "big", signed=True)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(rows, min_size=1, max_size=8))
def test_the_server_reads_back_what_the_rows_hold(pg_database: str, values: list[tuple]) -> None:
    import psycopg

    dsn = pg_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, options="-c timezone=UTC") as db:
        db.execute("CREATE TEMP TABLE t (event_id text, website_id text, session_id text, visitor_id text, "
                   "event_type text, event_name text, url_path text, referrer text, occurred_at timestamptz, "
                   "properties jsonb, ingested_at timestamptz, source_file text, batch_id bigint)")
        tail = binary_tail(datetime(2024, 3, 1, 1, 2, 3, 4, tzinfo=timezone.utc), "f\tx", 7)
        stream, _ = _copy_stream(b"".join(binary_row(v) for v in values), 10, tail, 0, -1)
        with db.cursor() as cursor, cursor.copy("COPY t FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(stream)
        got = db.execute("SELECT event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, "
                         "referrer, to_char(occurred_at, 'YYYY-MM-DD HH24:MI:SS.US'), properties::text, "
                         "ingested_at, source_file, batch_id FROM t").fetchall()
    assert [g[:10] for g in got] == [v[:9] + (None if v[9] is None else '{"a": [1, "\\t"]}',) for v in values]
    assert {g[10:] for g in got} == {(datetime(2024, 3, 1, 1, 2, 3, 4, tzinfo=timezone.utc), "f\tx", 7)}
