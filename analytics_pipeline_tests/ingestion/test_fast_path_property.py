"""Differential property: ingestion's fast path decides every line exactly as the one full
validation (``validate_event``) does, for JSONL and CSV, on both dialects' outputs.

The reference below parses each record and calls only ``validate_event``; ``prepare_chunk``
(what ingestion runs: ``fast_event_row`` for the common shape, binary COPY rows for PostgreSQL)
must give the same rows, the same rejections with the same reasons, in the same
order. Lines come from :mod:`hostile` (NUL everywhere, control characters, invalid UTF-8, BOM,
CRLF, deep nesting, huge values, timestamps at every edge).

Every test runs twice: with the compiled fast path (``_fastpath.c``, which takes runs of common
records) and with the Python one alone (``prepare.compiled = None``).

Default: a small number of examples (CI). ``ANALYTICS_TEST_HYPOTHESIS_PROFILE=large`` runs
10,000 examples per property (see docs/bad-input.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion import prepare
from analytics_pipeline.ingestion.prepare import (
    _csv_object,
    csv_header_problem,
    prepare_chunk,
    raw_text,
)
from analytics_pipeline.ingestion.readers import iter_csv, iter_jsonl, iter_jsonl_batches
from analytics_pipeline.ingestion.validate import (
    fast_event_row,
    future_limit_text,
    start_floor_text,
    validate_event,
)
from analytics_pipeline_tests.ingestion.hostile import (
    NOW,
    START,
    csv_file,
    examples,
    hostile_event,
    jsonl_file,
    jsonl_line,
)

PROPERTY = settings(max_examples=examples(150), derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
FROZEN = frozenset({"2024-02-29"})  # a retention-dropped day


@pytest.fixture(autouse=True, params=["compiled", "python"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(prepare, "compiled", None)
    return request.param


def test_the_compiled_fast_path_is_built(fast_path: str) -> None:
    """``pip install -e .`` (make) compiles _fastpath.c; without it preparing a chunk takes 3-7x the CPU."""
    if fast_path == "compiled":
        assert prepare.compiled is not None, "analytics_pipeline/ingestion/_fastpath.c is not built: pip install -e ."
BOM = b"\xef\xbb\xbf"


def reference(kind: str, header: list[str] | None, records: list[tuple[int, Any]]) -> tuple[list, list, list]:
    """(rows, row line numbers, rejections) with validate_event as the only validation."""
    rows: list = []
    lines: list[int] = []
    rejections: list = []
    seen: set[str] = set()
    problem = csv_header_problem(header or []) if kind == "csv" else None
    for number, payload in records:
        if kind == "jsonl":
            if number == 1 and payload.startswith(BOM):
                payload = payload[3:]
                if not payload.strip():
                    continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                reason = "line is not valid UTF-8" if "utf-8" in str(exc).lower() else f"invalid JSON: {exc}"
                rejections.append((number, raw_text(kind, payload), reason))
                continue
        else:
            if problem:
                rejections.append((number, raw_text(kind, payload), problem))
                continue
            obj = _csv_object(header or [], payload)
            if isinstance(obj, str):
                rejections.append((number, raw_text(kind, payload), obj))
                continue
        row = validate_event(obj, NOW, START)
        if isinstance(row, str):
            rejections.append((number, raw_text(kind, payload), row))
            continue
        if row[8][:10] in FROZEN:
            rejections.append((number, raw_text(kind, payload),
                               f"occurred_at falls on {row[8][:10]}, a day whose raw events retention has "
                               "deleted (its statistics are final)"))
            continue
        if row[0] in seen:
            continue
        seen.add(row[0])
        rows.append(row)
        lines.append(number)
    return rows, lines, rejections


def binary_rows(data: bytes, present: int) -> list[tuple]:
    """Binary COPY rows (as the chunk holds them: ``present`` fields each) back to values:
    text as str, a timestamptz as its stored text, a jsonb as its JSON text."""
    rows, pos = [], 0
    while pos < len(data):
        count = int.from_bytes(data[pos:pos + 2], "big")
        assert count == (13 if present == 10 else present)
        pos += 2
        values: list[Any] = []
        for index in range(present):
            size = int.from_bytes(data[pos:pos + 4], "big")
            pos += 4
            if size == 0xFFFFFFFF:
                values.append(None)
                continue
            value, pos = data[pos:pos + size], pos + size
            if index == (8 if present == 10 else 1):  # occurred_at
                micros = int.from_bytes(value, "big", signed=True)
                values.append((datetime(2000, 1, 1) + timedelta(microseconds=micros)).isoformat(" ", "microseconds"))
            elif index == 9:  # properties: jsonb version 1, then the text
                assert value[:1] == b"\x01"
                values.append(value[1:].decode("utf-8"))
            else:
                values.append(value.decode("utf-8"))
        rows.append(tuple(values))
    return rows


def copy_rows(chunk: Any) -> list[tuple]:
    rows = binary_rows(chunk.copy_data, 10)
    assert binary_rows(chunk.key_data, 2) == [(row[0], row[8]) for row in rows]
    return rows


def assert_same_as_reference(kind: str, header: list[str] | None, records: list, chunks: dict[str, Any]) -> None:
    rows, lines, rejections = reference(kind, header, records)
    for dialect, chunk in chunks.items():
        assert chunk.rejections == rejections, dialect
        assert chunk.row_lines == lines, dialect
        got = copy_rows(chunk) if dialect == "postgresql" else chunk.rows
        assert got == rows, dialect
        assert chunk.lines == len(lines) + len(rejections) + _in_chunk_duplicates(records, lines, rejections, kind)


def _in_chunk_duplicates(records: list, lines: list[int], rejections: list, kind: str) -> int:
    counted = [n for n, payload in records
               if not (kind == "jsonl" and n == 1 and payload.startswith(BOM) and not payload[3:].strip())]
    return len(counted) - len(lines) - len(rejections)


@PROPERTY
@given(obj=hostile_event())
def test_fast_event_row_is_validate_event_or_defers(obj: dict[str, Any]) -> None:
    limit, floor = future_limit_text(NOW), start_floor_text(START)
    full = validate_event(obj, NOW, START)
    fast = fast_event_row(obj, limit, floor)
    assert fast is None or fast == full


@PROPERTY
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=8), bom=st.booleans(), crlf=st.booleans())
def test_jsonl_lines_decided_as_validate_event_decides(tmp_path: Path, lines: list[bytes], bom: bool, crlf: bool) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(jsonl_file(lines, bom, crlf))
    records = list(iter_jsonl(path))
    assert [r for batch in iter_jsonl_batches(path) for r in batch] == records
    if not records:
        return
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)


@PROPERTY
@given(data=csv_file())
def test_csv_records_decided_as_validate_event_decides(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)
    header, records_iter = iter_csv(path)
    records = list(records_iter)
    if not records:
        return
    chunks = {dialect: prepare_chunk("csv", header, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("csv", header, records, chunks)


_BASE = (b'"event_id":"e1","website_id":"w","session_id":"s","visitor_id":"v",'
         b'"occurred_at":"2024-03-01T10:00:00.5Z"')


@pytest.mark.parametrize("line", [
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","junk":"\xff\xfe"}',  # bad UTF-8 in a field the rules skip
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","event\\u005fid":"other"}',  # escaped key name
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","deep":' + b"[" * 990 + b"]" * 990 + b"}",
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","deep":' + b"[" * 1010 + b"]" * 1010 + b"}",
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","deep":' + b"[" * 1030 + b"]" * 1030 + b"}",
    b'{' + _BASE + b',"event_type":"custom","event_name":"x","properties":{"n":123456789012345678901234567890}}',
    b'{' + _BASE + b',"event_type":"custom","event_name":"x","properties":{"n":18446744073709551615}}',
    b'{' + _BASE + b',"event_type":"custom","event_name":"x","properties":{"ip":"203.0.113.9","a":1,"a":2}}',
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/caf\xc3\xa9","event_name":""}',  # ignored name
    b'{' + _BASE + b',"event_type":"custom","event_name":"' + b"n" * 129 + b'"}',
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/' + b"p" * 2048 + b'"}',
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","event_id":"dup-key-last-wins"}',
    b'{' + _BASE.replace(b"10:00:00.5Z", b"10:00:60Z") + b',"event_type":"pageview","url_path":"/"}',
    b'{' + _BASE.replace(b"2024-03-01", b"2024-02-30") + b',"event_type":"pageview","url_path":"/"}',
    b'{' + _BASE.replace(b".5Z", b".1234567Z") + b',"event_type":"pageview","url_path":"/"}',
], ids=lambda line: str(len(line)))
def test_lines_where_the_two_parsers_could_disagree(line: bytes) -> None:
    """Lines at the edges where two JSON parsers have been seen to differ (skipped fields with
    bad UTF-8, escaped key names, nesting depth, large numbers), or at a limit: the fast paths
    must decide them as validate_event does."""
    records = [(1, line + b"\n")]
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)


# JSON numbers as text, in every form the grammar allows (and some it does not): the compiled
# path copies a number's text into properties only when orjson would print the same text.
JSON_NUMBER = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,19})?([eE][+-]?[0-9]{1,3})?\Z") | st.sampled_from(
    ["-0", "-0.0", "0.0", "1.0", "1.50", "0.001", "0.0001", "0.00999", "1e16", "1E2", "100000000000000.0",
     "999999999999999.9", "123456789012345.6", "12345678901234.56", "18446744073709551616", "1e400", "01", "1.",
     ".5", "+1", "0x10", "NaN", "Infinity"])
WHITESPACE = st.sampled_from(["", "", " ", "\t", "\r", "  ", "\n"])


@st.composite
def spaced_line(draw: st.DrawFn) -> bytes:
    """A custom event whose properties hold numbers as text and whitespace between the tokens."""
    def ws() -> str:
        return draw(WHITESPACE).replace("\n", " ")  # a raw newline would end the line

    numbers = draw(st.lists(JSON_NUMBER, min_size=1, max_size=3))
    keys = draw(st.lists(st.sampled_from(["n", "m", "ip", "context", "é", "n"]), min_size=len(numbers),
                         max_size=len(numbers)))
    shapes = st.sampled_from(["{0}", "[{0}]", '{{"x":{0}}}'])
    members = [ws() + f'"{key}"' + ws() + ":" + ws() + draw(shapes).format(number) + ws()
               for key, number in zip(keys, numbers)]
    fields = [f'"event_id":"sp-{draw(st.integers(0, 3))}"', '"website_id":"w"', '"session_id":"s"',
              '"visitor_id":"v"', '"event_type":"custom"', '"event_name":"n"',
              '"occurred_at":"2024-03-01T10:00:00Z"', '"properties":{' + ",".join(members) + "}"]
    order = draw(st.permutations(fields))
    return ("{" + ws() + f"{ws()},{ws()}".join(f.replace(":", ws() + ":" + ws(), 1) for f in order) + ws() + "}").encode()


@PROPERTY
@given(lines=st.lists(spaced_line(), min_size=1, max_size=6))
def test_numbers_and_whitespace_decided_as_validate_event_decides(lines: list[bytes]) -> None:
    records = [(n, line + b"\n") for n, line in enumerate(lines, 1)]
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)


@pytest.mark.parametrize("properties", [
    b'{"a":{"b":1,"b":2}}', b'{"a":[{"k":1},{"k":2}]}', b'{"context":{"ua":"x"}}', b'{"ctx":{"ip":"1.2.3.4"}}',
    b'{"v":57.34,"w":-0.5,"x":100.0,"y":0.0,"z":1e2}', b'{}', b'{"a":[]}', b'{"a":[1,[2,[3]]]}',
    b'{"s":"\xe2\x80\xa8 \x7f \xf0\x9f\x92\xa5"}', b'{"t":true,"f":false,"n":null}',
    b'{' + b",".join(b'"k%d":%d' % (i, i) for i in range(40)) + b'}',
    b'{"d":' + b'{"d":' * 70 + b'1' + b'}' * 70 + b'}',
])
def test_properties_the_compiled_path_copies_or_defers(properties: bytes) -> None:
    line = b'{' + _BASE + b',"event_type":"custom","event_name":"x","properties":' + properties + b'}\n'
    records = [(1, line)]
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)


@pytest.mark.parametrize("ids", [
    ("\u00e9" * 128, "w" * 64), ("\u00e9" * 129, "w"), ("e", "\u00e9" * 64), ("e", "\u00e9" * 65),
    ("\U0001f4a5" * 128, "w"), ("\U0001f4a5" * 129, "w"),
])
def test_id_limits_count_characters_not_bytes(ids: tuple[str, str]) -> None:
    event_id, website_id = ids
    line = ('{"event_id":"%s","website_id":"%s","session_id":"s","visitor_id":"v","event_type":"pageview",'
            '"url_path":"/","occurred_at":"2024-03-01T10:00:00Z"}\n' % (event_id, website_id)).encode()
    records = [(1, line)]
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)
    assert (len(chunks["sqlite"].rows) == 1) == (len(event_id) <= 128 and len(website_id) <= 64)


def test_csv_cells_with_tabs_newlines_and_backslashes(tmp_path: Path) -> None:
    """CSV cells, unlike JSON strings, can hold raw tabs and line ends: stored as they are."""
    path = tmp_path / "cells.csv"
    path.write_text(
        "event_id,website_id,session_id,visitor_id,event_type,event_name,url_path,referrer,occurred_at,properties\n"
        'e\t1,w,s,v,pageview,,"/a\nb",https://www.Example.com/x,2024-03-01T10:00:00Z,"{""a"":""x y""}"\n'
        'e\\2,w,"s\r",v,custom,"na\\me",,"Mail\\",2024-03-01T10:00:00.25Z,\n'
        "e3,w,s,v,pageview,,/,,2024-03-01T10:00:00Z,{ \"a\" : 1 }\n",
        encoding="utf-8", newline="")
    header, records_iter = iter_csv(path)
    records = list(records_iter)
    chunks = {dialect: prepare_chunk("csv", header, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("csv", header, records, chunks)
    assert [row[0] for row in chunks["sqlite"].rows] == ["e\t1", "e\\2", "e3"]
