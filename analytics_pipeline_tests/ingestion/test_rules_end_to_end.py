"""SPEC §2 boundaries through ``ingest_landing`` into the real warehouse, on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import NOW, custom_event, event, write_csv, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import (
    TEST_IPS,
    all_stored_text,
    ingest,
    ledger,
    rejections,
    stored_events,
)


def _props(size: int) -> dict[str, str]:
    return {"k": "x" * (size - len(b'{"k":""}'))}


BOUNDARIES = [
    # (event, accepted?)
    (event(event_id="a" * 128), True),
    (event(event_id="b" * 129), False),
    (event(website_id="w" * 64), True),
    (event(website_id="w" * 65), False),
    (event(session_id="s" * 128), True),
    (event(session_id="s" * 129), False),
    (event(visitor_id="v" * 128), True),
    (event(visitor_id="v" * 129), False),
    (custom_event("n" * 128), True),
    (custom_event("n" * 129), False),
    (event(url_path="/" + "p" * 2047), True),
    (event(url_path="/" + "p" * 2048), False),
    (event(properties=_props(16384)), True),
    (event(properties=_props(16385)), False),
    (event(occurred_at=NOW + timedelta(minutes=5)), True),
    (event(occurred_at=NOW + timedelta(minutes=5, seconds=1)), False),
    (event(event_id="é" * 128, website_id="ü" * 64), True),  # characters, not bytes
]


def test_every_length_and_size_boundary(warehouse: Warehouse, landing_dir: Path) -> None:
    write_jsonl(landing_dir / "bounds.jsonl", [e for e, _ in BOUNDARIES])
    result = ingest(warehouse, landing_dir)

    events = stored_events(warehouse)
    expected_ids = {e["event_id"] for e, ok in BOUNDARIES if ok}
    assert set(events) == expected_ids
    rejected_lines = {r["line_number"] for r in rejections(warehouse, "bounds.jsonl")}
    assert rejected_lines == {i for i, (_, ok) in enumerate(BOUNDARIES, 1) if not ok}
    assert (result.loaded, result.duplicates, result.rejected) == (len(expected_ids), 0, len(rejected_lines))

    stored = {e["event_id"]: e for e in events.values()}
    assert stored["a" * 128]["event_id"] == "a" * 128
    assert stored[BOUNDARIES[10][0]["event_id"]]["url_path"] == "/" + "p" * 2047
    assert stored[BOUNDARIES[12][0]["event_id"]]["properties"] == _props(16384)
    assert stored[BOUNDARIES[14][0]["event_id"]]["occurred_at"] == (NOW + timedelta(minutes=5)).isoformat()


def test_future_rule_uses_the_clock_at_ingestion(warehouse: Warehouse, landing_dir: Path) -> None:
    ahead = event(occurred_at=NOW + timedelta(minutes=10))
    write_jsonl(landing_dir / "a.jsonl", [ahead])
    assert ingest(warehouse, landing_dir).rejected == 1
    write_jsonl(landing_dir / "b.jsonl", [ahead, event()])  # other content: a new file
    result = ingest(warehouse, landing_dir, now=lambda: NOW + timedelta(minutes=6))
    assert (result.loaded, result.rejected) == (2, 0)


def test_blank_lines_are_skipped_not_counted_and_line_numbers_stay_physical(
    warehouse: Warehouse, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "blanks.jsonl", ["", event(), "   ", "\t", "{bad", "", event(), "\r"])
    result = ingest(warehouse, landing_dir)
    (file_result,) = result.files
    assert (file_result.lines, file_result.loaded, file_result.rejected) == (3, 2, 1)
    assert [r["line_number"] for r in rejections(warehouse)] == [5]


def test_crlf_line_ends(warehouse: Warehouse, landing_dir: Path) -> None:
    bad = event(event_type="x")
    data = b"\r\n".join(orjson.dumps(e) for e in [event(), event(), bad]) + b"\r\n"
    (landing_dir / "crlf.ndjson").write_bytes(data)
    result = ingest(warehouse, landing_dir)
    assert (result.lines, result.loaded, result.rejected) == (3, 2, 1)
    assert rejections(warehouse)[0]["raw"] == orjson.dumps(bad).decode()


def test_invalid_utf8_is_rejected_with_a_readable_reason(warehouse: Warehouse, landing_dir: Path) -> None:
    good = orjson.dumps(event())
    bad = orjson.dumps(event(url_path="/caf-x")).replace(b"caf-x", b"caf\xe9")
    (landing_dir / "latin1.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    write_csv(landing_dir / "latin1.csv", [event()])
    with open(landing_dir / "latin1.csv", "ab") as handle:
        handle.write(b"c-latin,site-a,s,v,pageview,,/caf\xe9,,2024-03-01T10:00:00Z,\n")
    result = ingest(warehouse, landing_dir)
    assert (result.loaded, result.rejected) == (2, 2)
    reasons = {r["source_file"]: r["reason"] for r in rejections(warehouse)}
    assert reasons == {"latin1.jsonl": "line is not valid UTF-8", "latin1.csv": "line is not valid UTF-8"}


def test_rejected_raw_is_cut_at_64_kib(warehouse: Warehouse, landing_dir: Path) -> None:
    huge = event(event_type="bogus", properties={"pad": "y" * 100_000})
    write_jsonl(landing_dir / "huge.jsonl", [huge])
    ingest(warehouse, landing_dir)
    (row,) = rejections(warehouse)
    assert len(row["raw"].encode()) == 64 * 1024
    assert orjson.dumps(huge).decode().startswith(row["raw"])


def test_no_ip_is_ever_stored(warehouse: Warehouse, landing_dir: Path) -> None:
    lines = [
        event(event_id="keep", ip="203.0.113.1", context={"ip": "203.0.113.2", "locale": "fr"},
              properties={"ip": "203.0.113.3", "context": {"ip": "2001:db8::3"}, "plan": "pro"}),
        event(event_type="bogus", ip="203.0.113.4", context={"ip": "2001:db8::4"}),
        '{"ip": "203.0.113.5", "broken": ',
        event(ip="203.0.113.6", properties=[1]),
    ]
    write_jsonl(landing_dir / "ip.jsonl", lines)
    header = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "url_path", "occurred_at", "ip")
    write_csv(landing_dir / "ip.csv", [event(ip="198.51.100.7"), event(event_type="x", ip="198.51.100.8")], header)
    result = ingest(warehouse, landing_dir)
    assert (result.loaded, result.rejected) == (2, 4)
    assert stored_events(warehouse)["keep"]["properties"] == {"context": {}, "plan": "pro"}
    assert not TEST_IPS.search(all_stored_text(warehouse))


@pytest.mark.parametrize(
    "line",
    [
        event(event_id="nul\u0000id"),
        event(url_path="/a\u0000b"),
        event(properties={"k": "x\u0000"}),
        event(referrer="x\u0000y"),
    ],
    ids=["event_id", "url_path", "properties", "referrer"],
)
def test_nul_characters_never_stop_the_file(warehouse: Warehouse, landing_dir: Path, line: dict) -> None:
    """A JSON ``\\u0000`` is valid JSON but PostgreSQL text and jsonb cannot hold it: the line
    must end up loaded (without the NUL) or rejected, and the rest of the file must load."""
    write_jsonl(landing_dir / "nul.jsonl", [event(event_id="before"), line, event(event_id="after")])
    result = ingest(warehouse, landing_dir)
    assert result.loaded + result.rejected == 3
    assert {"before", "after"} <= set(stored_events(warehouse))
    assert ledger(warehouse)[0]["status"] == "done"


def test_raw_nul_bytes_in_rejected_lines(warehouse: Warehouse, landing_dir: Path) -> None:
    (landing_dir / "nulbyte.jsonl").write_bytes(
        orjson.dumps(event(event_id="before")) + b"\n{\"x\": \x00}\n" + orjson.dumps(event(event_id="after")) + b"\n"
    )
    header = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "url_path", "occurred_at")
    write_csv(landing_dir / "nulbyte.csv", [event(event_id="c-before"), event(event_id="c\x00x", event_type="x")], header)
    result = ingest(warehouse, landing_dir)
    assert (result.loaded, result.rejected) == (3, 2)
    assert {r["line_number"] for r in rejections(warehouse)} == {2, 3}


def test_csv_cell_over_the_csv_field_limit_is_one_rejection_with_its_raw_line(
    warehouse: Warehouse, landing_dir: Path
) -> None:
    big = event(event_id="big", properties={"pad": "z" * 200_000})
    write_csv(landing_dir / "big.csv", [event(event_id="first"), big, event(event_id="last")])
    result = ingest(warehouse, landing_dir)
    assert (result.lines, result.loaded, result.rejected) == (3, 2, 1)
    (row,) = rejections(warehouse)
    assert row["line_number"] == 3
    assert row["reason"]  # "malformed CSV record: ..." or the properties size rule: both say why
    assert row["raw"].startswith("big,site-a,"), "raw must be the record as written, cut at 64 KiB"
    assert "\x00" not in row["raw"]
