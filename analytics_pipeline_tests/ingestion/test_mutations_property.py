"""Property: random mutations of valid lines never crash ingestion, and every counted line ends
up in exactly one place (loaded + duplicates + rejected = non-blank lines).

Runs on both backends (PostgreSQL is the production target and rejects some text SQLite keeps,
e.g. NUL characters). Deterministic in CI: ``derandomize=True`` with no example database, and
fast: 60 examples of a few lines each, one warehouse for all examples (every example is its own
file, named apart, with a unique last line so no two files share content).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event
from analytics_pipeline_tests.ingestion.helpers import count, ingest, non_blank_lines

FIELDS = ["event_id", "website_id", "session_id", "visitor_id", "event_type", "event_name", "url_path",
          "referrer", "occurred_at", "properties"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)


@st.composite
def valid_event(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 30))
    base = custom_event(f"n{n}", event_id=f"p-{n}") if draw(st.booleans()) else event(event_id=f"p-{n}")
    if draw(st.booleans()):
        base["properties"] = {"plan": "pro", "n": n, "ip": "203.0.113.1"}
    if draw(st.booleans()):
        base["referrer"] = draw(st.sampled_from(["https://www.Google.com/x", "Newsletter ", "", None]))
    return base


@st.composite
def mutated_line(draw: st.DrawFn) -> bytes:
    obj = draw(valid_event())
    kind = draw(st.sampled_from(["none", "drop", "retype", "text", "bytes", "truncate", "blank"]))
    if kind == "drop":
        obj.pop(draw(st.sampled_from(sorted(obj))))
    elif kind == "retype":
        obj[draw(st.sampled_from(FIELDS))] = draw(JSON_VALUES)
    line = orjson.dumps(obj)
    if kind == "text":
        text = line.decode()
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            op = draw(st.sampled_from(["delete", "insert", "replace"]))
            char = draw(st.characters(codec="utf-8"))
            if op == "delete":
                text = text[:at] + text[at + 1:]
            elif op == "insert":
                text = text[:at] + char + text[at:]
            else:
                text = text[:at] + char + text[at + 1:]
        line = text.encode("utf-8", "surrogatepass")
    elif kind == "bytes":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.binary(min_size=1, max_size=3)) + line[at:]
    elif kind == "truncate":
        line = line[: draw(st.integers(0, len(line) - 1))]
    elif kind == "blank":
        line = draw(st.sampled_from([b"", b"   ", b"\t", b"\r"]))
    return line


_files = itertools.count()


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(mutated_line(), min_size=1, max_size=12))
def test_mutated_lines_never_crash_and_always_add_up(warehouse: Warehouse, tmp_path: Path, lines: list[bytes]) -> None:
    n = next(_files)
    landing = tmp_path / f"landing-{n}"
    landing.mkdir()
    name = f"mutated-{n}.jsonl"
    sentinel = orjson.dumps(event(event_id=f"sentinel-{n}"))
    data = b"\n".join([*lines, sentinel]) + b"\n"
    (landing / name).write_bytes(data)
    events_before = count(warehouse, "events")

    result = ingest(warehouse, landing, chunk_lines=5)

    (file_result,) = result.files
    assert file_result.status == "ingested"
    assert file_result.lines == non_blank_lines(data)
    assert file_result.loaded + file_result.duplicates + file_result.rejected == file_result.lines
    assert count(warehouse, "events", "source_file = :f", f=name) == file_result.loaded
    assert count(warehouse, "events") == events_before + file_result.loaded
    assert count(warehouse, "rejected_events", "source_file = :f", f=name) == file_result.rejected
    assert count(warehouse, "events", "event_id = :e", e=f"sentinel-{n}") == 1
