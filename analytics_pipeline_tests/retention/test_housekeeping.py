"""Housekeeping beside events: rejected lines, the ingestion ledger, alert history and processed
landing files are deleted after their own retention, with a dry run, on both warehouses."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from analytics_pipeline.resources import CacheResource, PipelineSettings, WarehouseResource
from analytics_pipeline.retention.definitions import retention_job
from analytics_pipeline.retention.housekeeping import HousekeepingPolicy, purge_operational
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import event, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ingest, ledger

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _rejected(warehouse: Warehouse, line: int, at: str) -> None:
    warehouse.run("insert_rejected_event", {"source_file": "x.jsonl", "line_number": line, "raw": "{",
                                            "reason": "invalid JSON", "rejected_at": warehouse.ts(utc(at))})


def _alert(warehouse: Warehouse, key: str, at: str) -> None:
    warehouse.run("insert_alert_history", {
        "alert_key": key, "kind": "metric", "rule": "r", "website": "site-a", "day": None, "value": 1.0,
        "threshold": 2.0, "severity": "warning", "message": "m", "sent_to": "email", "status": "sent",
        "error": None, "run_id": None, "sent_at": warehouse.ts(utc(at))})


def _seed(warehouse: Warehouse, landing_dir: Path) -> None:
    _rejected(warehouse, 1, "2024-02-01T00:00:00")
    _rejected(warehouse, 2, "2024-02-02T00:00:00")
    _rejected(warehouse, 3, "2024-05-30T00:00:00")
    _alert(warehouse, "old", "2023-11-01T00:00:00")
    _alert(warehouse, "new", "2024-05-31T00:00:00")
    write_jsonl(landing_dir / "march.jsonl", [event(event_id="m1", occurred_at="2024-03-01T10:00:00Z")])
    ingest(warehouse, landing_dir, now=lambda: utc("2024-03-02T12:00:00"))
    write_jsonl(landing_dir / "may.jsonl", [event(event_id="y1", occurred_at="2024-05-30T10:00:00Z")])
    ingest(warehouse, landing_dir, now=lambda: utc("2024-05-31T12:00:00"))
    processed = landing_dir / "processed"
    os.utime(processed / "march.jsonl", (utc("2024-03-02T12:00:00").timestamp(),) * 2)
    os.utime(processed / "may.jsonl", (utc("2024-05-31T12:00:00").timestamp(),) * 2)


POLICY = HousekeepingPolicy(rejected_days=90, ledger_days=30, alert_history_days=180, processed_days=30)


def test_dry_run_counts_and_the_run_deletes_exactly_what_is_old(warehouse: Warehouse, landing_dir: Path) -> None:
    _seed(warehouse, landing_dir)
    dry = purge_operational(warehouse, landing_dir, POLICY, now=NOW, events_retention_days=20, dry_run=True, log=print)
    assert (dry.rejected_events, dry.ingest_files, dry.ingest_batches, dry.alert_history, dry.processed_files) == (
        2, 1, 1, 1, 1)
    assert (count(warehouse, "rejected_events"), count(warehouse, "ingest_files"), count(warehouse, "alert_history")) == (3, 2, 2)
    assert sorted(p.name for p in (landing_dir / "processed").iterdir()) == ["march.jsonl", "may.jsonl"]

    done = purge_operational(warehouse, landing_dir, POLICY, now=NOW, events_retention_days=20, batch_size=1, log=print)
    assert (done.rejected_events, done.ingest_files, done.ingest_batches, done.alert_history, done.processed_files) == (
        2, 1, 1, 1, 1)
    with warehouse.connect() as conn:
        assert conn.execute(sa.text("SELECT line_number FROM rejected_events")).scalars().all() == [3]
        assert conn.execute(sa.text("SELECT alert_key FROM alert_history")).scalars().all() == ["new"]
        assert conn.execute(sa.text("SELECT count(*) FROM ingest_batches")).scalar_one() == 1
    assert [r["path"] for r in ledger(warehouse)] == ["may.jsonl"]
    assert [p.name for p in (landing_dir / "processed").iterdir()] == ["may.jsonl"]
    assert count(warehouse, "events") == 2, "housekeeping never touches events"

    again = purge_operational(warehouse, landing_dir, POLICY, now=NOW, events_retention_days=20, log=print)
    assert (again.rejected_events, again.ingest_files, again.alert_history, again.processed_files) == (0, 0, 0, 0)


def test_the_ledger_keeps_hashes_at_least_as_long_as_events_and_re_drops_load_nothing(
    warehouse: Warehouse, landing_dir: Path
) -> None:
    _seed(warehouse, landing_dir)
    short = HousekeepingPolicy(ledger_days=5)
    kept = purge_operational(warehouse, landing_dir, short, now=NOW, events_retention_days=100, dry_run=True, log=print)
    assert kept.ingest_files == 0, "a ledger shorter than the events' retention is raised to it"
    purge_operational(warehouse, landing_dir, short, now=NOW, events_retention_days=60, log=print)
    assert [r["path"] for r in ledger(warehouse)] == ["may.jsonl"]

    write_jsonl(landing_dir / "may-again.jsonl", [event(event_id="y1", occurred_at="2024-05-30T10:00:00Z")])
    write_jsonl(landing_dir / "march-again.jsonl", [event(event_id="m1", occurred_at="2024-03-01T10:00:00Z")])
    result = ingest(warehouse, landing_dir, now=lambda: NOW)
    statuses = {f.name: (f.status, f.loaded) for f in result.files}
    assert statuses["may-again.jsonl"] == ("already ingested", 0)  # its hash is still in the ledger
    assert statuses["march-again.jsonl"] == ("ingested", 0)  # hash purged: its event is a duplicate
    assert count(warehouse, "events") == 2


def test_the_retention_job_reports_housekeeping_in_its_metadata(
    warehouse_url: str, landing_dir: Path, reports_dir: Path, instance: dg.DagsterInstance
) -> None:
    warehouse = Warehouse(warehouse_url)
    _rejected(warehouse, 1, "2000-01-01T00:00:00")
    resource = WarehouseResource(database_url=warehouse_url)
    resources = {"warehouse": resource, "cache": CacheResource(redis_url="", warehouse=resource),
                 "pipeline": PipelineSettings(landing_dir=str(landing_dir), reports_dir=str(reports_dir))}
    for dry_run, key in ((True, "rejected_events_to_delete"), (False, "rejected_events_deleted")):
        run = retention_job.execute_in_process(
            instance=instance, resources=resources,
            run_config={"ops": {"apply_retention": {"config": {"dry_run": dry_run}}}})
        (output,) = [e for e in run.all_node_events if e.event_type_value == "STEP_OUTPUT"]
        metadata = output.event_specific_data.metadata
        assert metadata[key].value == 1
        assert run.output_for_node("apply_retention")["housekeeping"][key] == 1
    assert count(warehouse, "rejected_events") == 0
