"""Differential property: ingestion's fast path decides every line exactly as the one full
validation (``validate_event``) does, for JSONL and CSV, on both dialects' outputs.

The reference below parses each record and calls only ``validate_event``; ``prepare_chunk`` /
``prepare_block`` (what ingestion runs: ``fast_event_row`` for the common shape, COPY text for
PostgreSQL) must give the same rows, the same rejections with the same reasons, in the same
order. Lines come from :mod:`hostile` (NUL everywhere, control characters, invalid UTF-8, BOM,
CRLF, deep nesting, huge values, timestamps at every edge).

Default: a small number of examples (CI). ``ANALYTICS_TEST_HYPOTHESIS_PROFILE=large`` runs
10,000 examples per property (see docs/bad-input.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.prepare import (
    _csv_object,
    csv_header_problem,
    prepare_block,
    prepare_chunk,
    raw_text,
)
from analytics_pipeline.ingestion.readers import iter_csv, iter_jsonl, iter_jsonl_blocks, lines_of_block
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


def _unescape_copy(field: str) -> str | None:
    if field == "\\N":
        return None
    out, i = [], 0
    while i < len(field):
        ch = field[i]
        if ch == "\\":
            out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[field[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def copy_rows(copy_data: bytes) -> list[tuple]:
    text = copy_data.decode("utf-8")
    return [tuple(_unescape_copy(f) for f in line.split("\t")) for line in text.split("\n")[:-1]]


def assert_same_as_reference(kind: str, header: list[str] | None, records: list, chunks: dict[str, Any]) -> None:
    rows, lines, rejections = reference(kind, header, records)
    for dialect, chunk in chunks.items():
        assert chunk.rejections == rejections, dialect
        assert chunk.row_lines == lines, dialect
        got = copy_rows(chunk.copy_data) if dialect == "postgresql" else chunk.rows
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
    fast = fast_event_row(obj, limit, None, floor)
    assert fast is None or fast == full
    fast_null = fast_event_row(obj, limit, "\\N", floor)
    assert fast_null is None or fast_null == tuple("\\N" if v is None else v for v in full)  # type: ignore[union-attr]


@PROPERTY
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=8), bom=st.booleans(), crlf=st.booleans())
def test_jsonl_lines_decided_as_validate_event_decides(tmp_path: Path, lines: list[bytes], bom: bool, crlf: bool) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(jsonl_file(lines, bom, crlf))
    records = list(iter_jsonl(path))
    block_records = [r for first, data in iter_jsonl_blocks(path, 10**6) for r in lines_of_block(first, data)]
    assert block_records == records
    if not records:
        return
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)
    (first, data), = iter_jsonl_blocks(path, 10**6)
    assert_same_as_reference("jsonl", None, records,
                             {"postgresql": prepare_block(first, data, NOW, "postgresql", FROZEN, START)})


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
    b'{' + _BASE + b',"event_type":"pageview","url_path":"/","junk":"\xff\xfe"}',  # bad UTF-8 where msgspec skips
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
    """Lines where msgspec (the fast path's decoder) and orjson (the rules' parser) differ on
    their own, or sit at a limit: the fast path must decide them as validate_event does."""
    records = [(1, line + b"\n")]
    chunks = {dialect: prepare_chunk("jsonl", None, records, NOW, dialect, FROZEN, START)
              for dialect in ("sqlite", "postgresql")}
    assert_same_as_reference("jsonl", None, records, chunks)
