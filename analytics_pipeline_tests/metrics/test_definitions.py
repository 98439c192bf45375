"""A metric is added by dropping a file: its asset (lineage, schedule, metadata) appears; a broken
file is listed in the code location's metadata and skipped; a range of days is one run."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline.metrics.definitions import build_metric_defs
from analytics_pipeline.resources import default_resources
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline_tests.stats.helpers import drop, ingest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"
NEW_METRIC = """
name: enrolments_per_visitor
description: Enrolments per distinct learner.
type: gauge
unit: ratio
formula: UserEnrolled / pageview
"""


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    path = tmp_path / "metric_definitions"
    shutil.copytree(REPO_ROOT / "metric_definitions", path)
    (path / "enrolments_per_visitor.yaml").write_text(NEW_METRIC, encoding="utf-8")
    (path / "broken.yaml").write_text("name: broken\nformula: '(a'\n", encoding="utf-8")
    return path


def test_a_dropped_file_becomes_an_asset_with_lineage_schedule_and_metadata(metrics_dir: Path):
    defs = dg.Definitions.merge(build_metric_defs(metrics_dir), dg.Definitions(resources=default_resources()))
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(["metrics", "enrolments_per_visitor"])

    node = graph.get(key)
    assert node.group_name == "metrics"
    assert {k.to_user_string() for k in node.parent_keys} == {"raw_events", "daily_stats"}
    assert node.partitions_def is not None and node.partitions_def.get_first_partition_key() == "2024-01-01"
    assert "UserEnrolled / pageview" in node.metadata["definition"]
    assert defs.resolve_schedule_def("metric_enrolments_per_visitor_schedule").cron_schedule == "20 1 * * *"
    assert "broken.yaml" in defs.metadata["metric_definition_problems"].value
    assert defs.metadata["metric_definition_problem_count"].value == 1
    assert len([k for k in graph.get_all_asset_keys() if k.path[0] == "metrics"]) == 7


def test_a_range_of_days_is_one_run_with_counts_and_a_preview(metrics_dir: Path, warehouse_url, landing_dir: Path,
                                                              resources, instance):
    lines = (FIXTURES / "learning.jsonl").read_text(encoding="utf-8").splitlines()
    drop(landing_dir, "learning.jsonl", [json.loads(line) for line in lines])
    ingest(resources["warehouse"].get(), landing_dir, datetime(2024, 3, 10, tzinfo=timezone.utc))
    defs = build_metric_defs(metrics_dir)
    asset = next(a for a in defs.assets if a.key == dg.AssetKey(["metrics", "course_enrolments"]))

    result = dg.materialize([asset], resources=resources, instance=instance,
                            tags={"dagster/asset_partition_range_start": "2024-03-01",
                                  "dagster/asset_partition_range_end": "2024-03-02"})

    assert result.success
    materializations = result.asset_materializations_for_node(asset.node_def.name)
    assert sorted(m.partition for m in materializations) == ["2024-03-01", "2024-03-02"]
    meta = materializations[-1].metadata
    assert meta["dagster/row_count"].value == 4  # c1, c2, (none) on the 1st; c1 on the 2nd
    assert meta["days"].value == 2
    assert "c1" in meta["preview"].value
    assert "FROM events" in meta["sql"].value
    assert len(instance.get_runs()) == 1
