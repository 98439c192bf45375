"""Unusable files are visible: the raw_events check fails naming the file and the reason, the
file is finished and moved like any other (never retried), and the ledger keeps why."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import csv_bytes, event, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ledger


def _run(resources: dict, instance: dg.DagsterInstance) -> tuple[dg.AssetCheckEvaluation, dict]:
    result = dg.materialize([raw_events], resources=resources, instance=instance)
    assert result.success, "an unusable file fails the check, not the run"
    (evaluation,) = result.get_asset_check_evaluations()
    (materialization,) = result.asset_materializations_for_node("raw_events")
    return evaluation, {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def _problems(warehouse: Warehouse) -> dict[str, str]:
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT f.path, p.problem FROM ingest_file_problems p JOIN ingest_files f USING (file_id)")).all()
    return dict(rows)


def test_a_csv_without_required_columns_fails_the_check_naming_file_and_reason(
    resources: dict, instance: dg.DagsterInstance, landing_dir: Path, warehouse_url: str
) -> None:
    header = ("id", "site", "session_id", "visitor_id", "event_type", "url_path", "occurred_at")
    (landing_dir / "export.csv").write_bytes(csv_bytes([["1", "s", "x", "v", "pageview", "/", "2024-03-01T10:00:00Z"]] * 3, header))
    write_jsonl(landing_dir / "good.jsonl", [event(), event()])

    evaluation, metadata = _run(resources, instance)

    reason = ("CSV header lacks required column(s) event_id, website_id; header found: "
              "'id,site,session_id,visitor_id,event_type,url_path,occurred_at'")
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.description == f"export.csv: {reason}"
    assert metadata["unusable_files"] == 1 and metadata["loaded"] == 2
    warehouse = Warehouse(warehouse_url)
    assert _problems(warehouse) == {"export.csv": reason}
    assert [r["status"] for r in ledger(warehouse)] == ["done", "done"]
    assert sorted(p.name for p in (landing_dir / "processed").iterdir()) == ["export.csv", "good.jsonl"]

    evaluation, metadata = _run(resources, instance)  # the next run does not retry it
    assert evaluation.passed and metadata["files"] == 0
    assert count(warehouse, "rejected_events") == 3


def test_more_than_half_rejected_fails_the_check_half_does_not(
    resources: dict, instance: dg.DagsterInstance, landing_dir: Path, warehouse_url: str
) -> None:
    write_jsonl(landing_dir / "a_half.jsonl", [event(), event(), "{bad", "{bad"])
    write_jsonl(landing_dir / "b_most.jsonl", [event(), "{bad", "{bad", "", "   "])

    evaluation, _ = _run(resources, instance)

    assert not evaluation.passed
    assert evaluation.description.startswith(
        "b_most.jsonl: 2 of 3 non-blank lines rejected (more than half); most common reason: invalid JSON (2 lines)")
    assert "a_half.jsonl" not in evaluation.description
    assert set(_problems(Warehouse(warehouse_url))) == {"b_most.jsonl"}


def test_usable_files_pass_the_check(resources: dict, instance: dg.DagsterInstance, landing_dir: Path) -> None:
    write_jsonl(landing_dir / "ok.jsonl", [event(), "{bad", event()])
    evaluation, _ = _run(resources, instance)
    assert evaluation.passed
    assert evaluation.description == "all 1 file(s) usable"
