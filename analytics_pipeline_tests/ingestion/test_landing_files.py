"""Which files are picked up, and files with nothing (or nothing readable) in them."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import csv_bytes, event, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import ingest, ledger, rejections, stored_events


def test_only_event_files_directly_in_landing_are_ingested(warehouse: Warehouse, landing_dir: Path) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event(event_id="a")])
    write_jsonl(landing_dir / "b.NDJSON", [event(event_id="b")])
    write_jsonl(landing_dir / "c.ndjson.gz", [event(event_id="c")])
    write_jsonl(landing_dir / ".hidden.jsonl", [event(event_id="hidden")])
    write_jsonl(landing_dir / "upload.jsonl.part", [event(event_id="partial")])
    write_jsonl(landing_dir / "sub" / "nested.jsonl", [event(event_id="nested")])
    (landing_dir / "notes.txt").write_text("not events")
    result = ingest(warehouse, landing_dir)
    assert sorted(f.name for f in result.files) == ["a.jsonl", "b.NDJSON", "c.ndjson.gz"]
    assert sorted(stored_events(warehouse)) == ["a", "b", "c"]
    left = sorted(p.name for p in landing_dir.iterdir())
    assert left == [".hidden.jsonl", "notes.txt", "processed", "sub", "upload.jsonl.part"]


def test_empty_and_blank_files_are_ingested_with_zero_lines(warehouse: Warehouse, landing_dir: Path) -> None:
    (landing_dir / "empty.jsonl").write_bytes(b"")
    (landing_dir / "blank.jsonl").write_bytes(b"\n \n\t\n")
    (landing_dir / "header-only.csv").write_bytes(csv_bytes([]))
    (landing_dir / "empty.csv.gz").write_bytes(gzip.compress(b""))
    result = ingest(warehouse, landing_dir)
    assert len(result.files) == 4
    assert (result.lines, result.loaded, result.rejected) == (0, 0, 0)
    assert all(f.moved_to for f in result.files)
    assert [p.name for p in landing_dir.iterdir()] == ["processed"]


def test_csv_header_with_bom_and_padding(warehouse: Warehouse, landing_dir: Path) -> None:
    data = csv_bytes([event(event_id="bom")])
    header, rest = data.split(b"\n", 1)
    first, *others = header.split(b",")
    padded = b",".join([first + b" ", *(b" " + cell + b" " for cell in others)])  # as spreadsheets save it
    (landing_dir / "excel.csv").write_bytes(b"\xef\xbb\xbf" + padded + b"\n" + rest)
    result = ingest(warehouse, landing_dir)
    assert (result.loaded, result.rejected) == (1, 0)
    assert "bom" in stored_events(warehouse)


def test_csv_without_a_required_column_rejects_each_record(warehouse: Warehouse, landing_dir: Path) -> None:
    header = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "url_path")
    (landing_dir / "partial.csv").write_bytes(csv_bytes([event(), event()], header))
    result = ingest(warehouse, landing_dir)
    assert (result.lines, result.rejected) == (2, 2)
    reason = ("CSV header lacks required column(s) occurred_at; header found: "
              "'event_id,website_id,session_id,visitor_id,event_type,url_path'")
    assert [r["reason"] for r in rejections(warehouse)] == [reason, reason]
    (file_result,) = result.files
    assert file_result.problem == reason


def test_a_gz_name_that_is_not_gzip_is_one_visible_rejection(warehouse: Warehouse, landing_dir: Path) -> None:
    (landing_dir / "plain.jsonl.gz").write_bytes(orjson.dumps(event()) + b"\n")
    result = ingest(warehouse, landing_dir)
    (file_result,) = result.files
    assert (file_result.lines, file_result.loaded, file_result.rejected) == (1, 0, 1)
    (row,) = rejections(warehouse)
    assert (row["source_file"], row["line_number"]) == ("plain.jsonl.gz", 1)
    assert row["reason"].startswith("file unreadable from here on")
    assert ledger(warehouse)[0]["status"] == "done"
