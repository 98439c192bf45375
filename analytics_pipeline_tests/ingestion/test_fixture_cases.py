"""Every bad-input class end to end, from the data files in fixtures/ingestion (see its README):
each file is dropped in the landing directory and ingested on both backends."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.ingestion.helpers import (
    FIXTURES,
    TEST_IPS,
    all_stored_text,
    ingest,
    ledger,
    rejections,
    stored_events,
)

CASES = sorted(p.name[: -len(".expected.json")] for p in FIXTURES.glob("*.expected.json"))


def _data_file(case: str) -> Path:
    (match,) = [p for p in FIXTURES.iterdir() if p.name.split(".")[0] == case and ".expected." not in p.name]
    return match


@pytest.mark.parametrize("case", CASES)
def test_fixture_case(case: str, warehouse: Warehouse, landing_dir: Path) -> None:
    source = _data_file(case)
    expected = json.loads((FIXTURES / f"{case}.expected.json").read_text())
    shutil.copy(source, landing_dir / source.name)

    result = ingest(warehouse, landing_dir)

    (file_result,) = result.files
    assert file_result.status == "ingested"
    counts = (file_result.lines, file_result.loaded, file_result.duplicates, file_result.rejected)
    assert counts == (expected["lines"], expected["loaded"], expected["duplicates"], len(expected["rejected"]))
    # The accounting invariant: every counted line is in exactly one place.
    assert file_result.loaded + file_result.duplicates + file_result.rejected == file_result.lines

    events = stored_events(warehouse)
    assert len(events) == expected["loaded"]
    assert {e["source_file"] for e in events.values()} <= {source.name}
    for event_id, columns in expected["events"].items():
        assert event_id in events, f"{event_id} was not loaded"
        for column, value in columns.items():
            assert events[event_id][column] == value, (event_id, column)

    rejected = rejections(warehouse)
    assert {str(r["line_number"]): r["source_file"] for r in rejected} == {
        line: source.name for line in expected["rejected"]
    }
    for row in rejected:
        prefix = expected["rejected"][str(row["line_number"])]
        assert row["reason"].startswith(prefix), (row["line_number"], row["reason"])
        assert row["raw"] and row["rejected_at"] is not None

    (entry,) = ledger(warehouse)
    assert entry["status"] == "done"
    assert (entry["lines"], entry["loaded"], entry["duplicates"], entry["rejected"]) == counts
    assert not (landing_dir / source.name).exists()
    assert (landing_dir / "processed" / source.name).read_bytes() == source.read_bytes()

    assert not TEST_IPS.search(all_stored_text(warehouse)), "an IP address was stored"


def test_rejected_raw_is_the_line_as_written(warehouse: Warehouse, landing_dir: Path) -> None:
    shutil.copy(FIXTURES / "wrong_types.jsonl", landing_dir)
    ingest(warehouse, landing_dir)
    physical = (FIXTURES / "wrong_types.jsonl").read_text().split("\n")
    for row in rejections(warehouse):
        assert row["raw"] == physical[row["line_number"] - 1]


def test_csv_rejection_raw_is_the_record(warehouse: Warehouse, landing_dir: Path) -> None:
    shutil.copy(FIXTURES / "csv_quoting.csv", landing_dir)
    ingest(warehouse, landing_dir)
    by_line = {r["line_number"]: r["raw"] for r in rejections(warehouse)}
    assert by_line[8] == "c-8,site-a,sess-1"
    assert by_line[7].startswith("c-7,site-a,sess-1,visitor-1,pageview,,/,,2024-03-01T10:00:00Z,{not json,")
    assert "198.51.100.4" not in by_line[7]


def _readable_prefix(path: Path) -> int:
    """Complete lines the gzip module can read before the stream breaks."""
    lines = 0
    with gzip.open(path, "rb") as handle:
        try:
            for line in handle:
                if line.endswith(b"\n"):
                    lines += 1
        except EOFError:
            pass
    return lines


@pytest.mark.parametrize("chunk_lines", [25_000, 50], ids=["default-chunks", "small-chunks"])
def test_truncated_gzip_loads_the_readable_lines_and_rejects_the_rest_once(
    warehouse: Warehouse, landing_dir: Path, chunk_lines: int
) -> None:
    source = FIXTURES / "truncated.jsonl.gz"
    readable = _readable_prefix(source)
    assert 0 < readable < 400
    shutil.copy(source, landing_dir)

    result = ingest(warehouse, landing_dir, chunk_lines=chunk_lines)

    (file_result,) = result.files
    events = stored_events(warehouse)
    # Every line before the break is loaded; the unreadable rest is one visible rejection.
    assert sorted(events) == [f"tr-{i:04d}" for i in range(1, readable + 1)]
    (rejection,) = rejections(warehouse)
    assert rejection["line_number"] == readable + 1
    assert rejection["reason"].startswith("file unreadable from here on")
    assert (file_result.loaded, file_result.rejected, file_result.lines) == (readable, 1, readable + 1)
    assert ledger(warehouse)[0]["status"] == "done"
