"""The ``raw_events`` asset materialized through Dagster against the real warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from analytics_pipeline.ingestion.definitions import raw_events
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import custom_event, event, write_csv, write_jsonl
from analytics_pipeline_tests.ingestion.helpers import count, ledger


def _materialize(resources: dict, instance: dg.DagsterInstance) -> dict[str, object]:
    result = dg.materialize([raw_events], resources=resources, instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_events")
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def test_raw_events_metadata_counts_what_was_ingested(
    resources: dict, instance: dg.DagsterInstance, landing_dir: Path, warehouse_url: str
) -> None:
    write_jsonl(landing_dir / "day1.jsonl", [
        event(event_id="a", occurred_at="2024-03-01T10:00:00Z"), event(event_id="b", occurred_at="2024-03-02T09:00:00Z"),
        "", "{broken", event(event_id="a"), event(event_id="c", occurred_at="2024-03-01T23:59:59+00:00"),
    ])
    write_csv(landing_dir / "day2.csv.gz", [custom_event(event_id="d", occurred_at="2024-03-02T00:00:00Z"),
                                          event(event_id="e", url_path="nope")])

    metadata = _materialize(resources, instance)

    assert (metadata["files"], metadata["lines"], metadata["loaded"], metadata["duplicates"], metadata["rejected"]) == (
        2, 7, 4, 1, 2
    )
    assert metadata["dagster/row_count"] == 4
    assert metadata["days_touched"] == ["2024-03-01", "2024-03-02"]
    assert "| 2024-03-01 | 2 |" in metadata["events_per_day"]
    assert "| 2024-03-02 | 2 |" in metadata["events_per_day"]
    assert "invalid JSON" in metadata["top_rejection_reasons"]
    assert "url_path must start with '/'" in metadata["top_rejection_reasons"]
    assert "day1.jsonl" in metadata["files_preview"] and "day2.csv.gz" in metadata["files_preview"]
    assert metadata["duration_seconds"] >= 0

    warehouse = Warehouse(warehouse_url)
    assert (count(warehouse, "events"), count(warehouse, "rejected_events")) == (4, 2)
    assert [e["status"] for e in ledger(warehouse)] == ["done", "done"]
    assert sorted(p.name for p in (landing_dir / "processed").iterdir()) == ["day1.jsonl", "day2.csv.gz"]

    # A second materialization with nothing new pending is a no-op with zero counts.
    again = _materialize(resources, instance)
    assert (again["files"], again["lines"], again["loaded"], again["rejected"]) == (0, 0, 0, 0)
    assert count(warehouse, "events") == 4
