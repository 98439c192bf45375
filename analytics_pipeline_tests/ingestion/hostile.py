"""Hypothesis strategies of hostile event lines, shared by the ingestion property tests.

Mutations of valid events: NUL in every position (fields, property keys, nested values; raw and
escaped ``\\u0000``), other control characters, invalid UTF-8, a byte-order mark, CRLF line
ends, very deep nesting, huge values, and timestamps at every edge (year 1, before
``ANALYTICS_START_DATE``, far future, offsets +05:45 / +14:00 / -12:00, leap seconds, invalid
dates, no offset).

Run size: ``ANALYTICS_TEST_HYPOTHESIS_PROFILE=large`` runs :data:`LARGE_EXAMPLES` examples per
property instead of the small CI default.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from analytics_pipeline_tests.factories import FIELDS, NOW, custom_event, event

LARGE = os.environ.get("ANALYTICS_TEST_HYPOTHESIS_PROFILE", "") == "large"
LARGE_EXAMPLES = 10_000
START = date(2024, 1, 1)  # the tests' ANALYTICS_START_DATE


def examples(small: int, large: int = LARGE_EXAMPLES) -> int:
    """``small`` in CI, ``large`` (default :data:`LARGE_EXAMPLES`) under the large profile."""
    return large if LARGE else small


CONTROL = st.sampled_from([chr(c) for c in (*range(0, 32), 127, 0x85, 0x2028, 0x2029, 0x202E, 0xFEFF)])
HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.one_of(CONTROL, st.sampled_from(list("=+-@|`<>&\\\"'/\t\r\n*_[]"))), max_size=12),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\\u0000", "=1+1", "<script>x</script>", "é", "💥",
                     "x" * 129, "/" + "p" * 2048, "/ok", "pageview", "custom"]),
)
EDGE_TIMESTAMPS = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00-12:00",
    "0999-12-31T23:59:59Z", "2023-12-31T23:59:59.999999Z", "2024-01-01T00:00:00Z",
    "2024-01-01T05:44:59+05:45", "2024-01-01T05:45:00+05:45", "2023-12-31T12:00:00-12:00",
    "2024-01-01T13:59:59+14:00", "2024-01-01T14:00:00+14:00", "2024-02-29T12:00:00Z",
    "2023-02-29T12:00:00Z", "2024-02-30T00:00:00Z", "2024-06-30T23:59:60Z", "2024-13-01T00:00:00Z",
    "2024-03-01T10:00:00", "2024-03-01 10:00:00Z", "2024-03-01T10:00:00z", "2024-03-01T10:00:00+00:00",
    "2024-03-01T10:00:00-00:00", "2024-03-01T10:00:00.1234567Z", "2024-03-01T10:00:00.1Z",
    "2024-03-02T12:05:00Z", "2024-03-02T12:05:00.000001Z", "2024-03-02T12:04:59.999999Z",
    "2100-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00", "20240301T100000Z",
    " 2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z\x00", "2024-03-01T10:00:00+24:00",
])
OFFSETS = st.sampled_from(["Z", "+00:00", "+05:45", "+14:00", "-12:00", "+05:30", "-03:30", "+01:00", ""])


@st.composite
def generated_timestamp(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    if draw(st.booleans()):  # mostly near the interesting range
        moment = datetime(2023, 12, 30) + timedelta(seconds=draw(st.integers(0, 70 * 86400)))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))
    return text + draw(OFFSETS)


TIMESTAMPS = st.one_of(EDGE_TIMESTAMPS, generated_timestamp())


def dumps(value: Any) -> bytes:
    """JSON of ``value``, deeper than orjson serialises too (files in the wild can be)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(10_000)
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        finally:
            sys.setrecursionlimit(limit)


def deep(depth: int, leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                        st.floats(allow_nan=False, allow_infinity=False), HOSTILE_TEXT)
PROPERTIES = st.one_of(
    st.none(),
    st.dictionaries(HOSTILE_TEXT, st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                                               | st.dictionaries(HOSTILE_TEXT, inner, max_size=3), max_leaves=6),
                    max_size=4),
    st.builds(deep, st.sampled_from([1, 50, 253, 254, 255, 300, 1023, 1100]),
              st.sampled_from(["x", "\x00", 1])),
    st.builds(lambda n, ch: {"big": ch * n}, st.sampled_from([100, 16_000, 16_400, 70_000]),
              st.sampled_from(["x", "é", "\x01"])),
    st.just({"ip": "203.0.113.9", "context": {"ip": "198.51.100.1"}}),
    st.just({"\x00key": 1}),
    st.just({"a": [{"b": {"c": "\x00"}}]}),
)


@st.composite
def hostile_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event (pageview or custom), then zero or more field mutations."""
    n = draw(st.integers(0, 40))
    obj = (custom_event(f"n{n}", event_id=f"h-{n}") if draw(st.booleans()) else event(event_id=f"h-{n}"))
    if draw(st.booleans()):
        obj["occurred_at"] = draw(TIMESTAMPS)
    if draw(st.booleans()):
        obj["properties"] = draw(PROPERTIES)
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from([*FIELDS, "ip", "extra"]))
        action = draw(st.sampled_from(["text", "nul", "drop", "retype", "referrer"]))
        if action == "drop":
            obj.pop(name, None)
        elif action == "text":
            obj[name] = draw(HOSTILE_TEXT)
        elif action == "nul":
            value = str(obj.get(name) or "x")
            at = draw(st.integers(0, len(value)))
            obj[name] = value[:at] + "\x00" + value[at:]
        elif action == "referrer":
            obj["referrer"] = draw(st.sampled_from(["https://www.Google.com/x", "Newsletter ", "",
                                                    "http://[::1", "//x", "HTTPS://WWW.", None]))
        else:
            obj[name] = draw(JSON_LEAVES | st.lists(JSON_LEAVES, max_size=2))
    return obj


BAD_BYTES = st.sampled_from([b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\x01", b"\x1b",
                             b"\\u0000", b"\\\\u0000", b"\xef\xbb\xbf", b"\r", b"\x85"])


@st.composite
def jsonl_line(draw: st.DrawFn) -> bytes:
    """One JSONL line (without its newline), possibly mutated at the byte level."""
    line = dumps(draw(hostile_event()))
    kind = draw(st.sampled_from(["none", "none", "bytes", "escape_nul", "blank"]))
    if kind == "bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(BAD_BYTES) + line[at:]
    elif kind == "escape_nul":
        # An escaped NUL inside one of the line's strings (a field or a property key/value).
        quotes = [i for i, b in enumerate(line) if b == 0x22]
        if quotes:
            at = draw(st.sampled_from(quotes)) + 1
            line = line[:at] + b"\\u0000" + line[at:]
    elif kind == "blank":
        line = draw(st.sampled_from([b"", b"   ", b"\t"]))
    return line


def jsonl_file(lines: list[bytes], bom: bool, crlf: bool) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    return (b"\xef\xbb\xbf" if bom else b"") + end.join(lines) + end


@st.composite
def csv_file(draw: st.DrawFn) -> bytes:
    """A CSV file: a header (sometimes lacking required columns), records of hostile events
    (cells possibly holding invalid UTF-8), optionally a BOM and CRLF line ends."""
    header = list(FIELDS)
    if draw(st.integers(0, 5)) == 0:
        header.remove(draw(st.sampled_from(header)))
    rows = draw(st.lists(hostile_event(), min_size=1, max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if draw(st.booleans()) else "\n")
    writer.writerow(header)
    for row in rows:
        cells = []
        for name in header:
            value = row.get(name)
            if isinstance(value, (dict, list)):
                value = dumps(value).decode("utf-8", "surrogateescape")
            cells.append("" if value is None else str(value))
        writer.writerow(cells)
    data = out.getvalue().encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(BAD_BYTES) + data[at:]
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + data


__all__ = ["NOW", "START", "examples", "hostile_event", "jsonl_line", "jsonl_file", "csv_file", "timezone"]
