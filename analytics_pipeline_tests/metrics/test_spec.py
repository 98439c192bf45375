"""Metric definition files: each kind of broken file names the file, field and problem and is
skipped while the others load."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_pipeline.metrics.spec import load_metrics
from analytics_pipeline.settings import REPO_ROOT

GOOD = "name: good\naggregation: count\n"


@pytest.mark.parametrize(("text", "field", "problem"), [
    ("name: [unclosed\n", "file", "not readable YAML"),
    ("- just\n- a list\n", "file", "expected a mapping"),
    ("name: Bad-Name\naggregation: count\n", "name", "lower-case"),
    ("name: x\n", "formula", "missing"),
    ("name: x\nformula: 'a +'\n", "formula", "ends where"),
    ("name: x\nformula: '1 + 2'\n", "formula", "uses no event counts"),
    ("name: x\nformula: a\naggregation: sum\n", "aggregation", "either a formula"),
    ("name: x\naggregation: {function: median, field: properties.a}\n", "aggregation.function", "not one of"),
    ("name: x\naggregation: {function: sum, field: url_path}\n", "aggregation.field", "is text"),
    ("name: x\naggregation: {function: avg}\n", "aggregation.field", "needs a field"),
    ("name: x\naggregation: count\nfilters: [{field: colour, op: '=', value: red}]\n", "filters[0].field", "unknown field"),
    ("name: x\naggregation: count\nfilters: [{field: event_name, op: '>', value: 1}]\n", "filters[0].op", "not one of"),
    ("name: x\naggregation: count\nfilters: [{field: event_name, op: in, values: []}]\n", "filters[0].values", "non-empty"),
    ("name: x\naggregation: count\nfilters: [{field: event_name, op: '=', value: 3}]\n", "filters[0].value", "cannot be compared"),
    ("name: x\naggregation: count\nfilters: [{field: event_name, op: '='}]\n", "filters[0].value", "needs a value"),
    ("name: x\naggregation: count\ndimensions: [properties.'a\"b']\n", "dimensions[0]", "without"),
    ("name: x\naggregation: count\ndimensions: [a, b, c, d]\n", "dimensions", "at most 3"),
    ("name: x\naggregation: count\ndimension_limit: 0\n", "dimension_limit", "whole number"),
    ("name: x\ntype: histogram\naggregation: count\n", "type", "not one of"),
    ("name: x\naggregation: count\ncolour: red\n", "colour", "unknown field"),
    ("name: x\nformula: passed / total\ncounts: {passed: {filters: []}}\n", "counts.passed.event", "expected"),
])
def test_a_broken_file_is_named_skipped_and_the_others_load(tmp_path: Path, text: str, field: str, problem: str):
    (tmp_path / "broken.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")

    metric_set = load_metrics(tmp_path)

    assert [m.name for m in metric_set.metrics] == ["good"]
    assert any(p.file == "broken.yaml" and p.field == field and problem in p.problem for p in metric_set.problems), \
        metric_set.problems


def test_a_name_defined_twice_keeps_the_first_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")

    metric_set = load_metrics(tmp_path)

    assert [m.source for m in metric_set.metrics] == ["a.yaml"]
    assert [(p.file, p.field) for p in metric_set.problems] == [("b.yaml", "name")]


def test_undecodable_bytes_are_a_problem_not_a_crash(tmp_path: Path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")

    metric_set = load_metrics(tmp_path)

    assert metric_set.metrics == [] and metric_set.problems[0].file == "binary.yaml"


def test_the_shipped_files_are_valid():
    metric_set = load_metrics(REPO_ROOT / "metric_definitions")
    assert metric_set.problems == []
    assert {m.name for m in metric_set.metrics} >= {
        "course_enrolments", "course_completions", "course_completion_rate", "learning_progress",
        "assessment_pass_rate", "assessment_average_score"}


def test_cli_validate_lists_problems_and_exits_1(tmp_path: Path, capsys):
    from analytics_pipeline.cli import main

    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    assert main(["metrics", "validate", "--dir", str(tmp_path)]) == 0
    (tmp_path / "broken.yaml").write_text("name: x\nformula: 'a /'\n", encoding="utf-8")

    assert main(["metrics", "validate", "--dir", str(tmp_path)]) == 1

    out = capsys.readouterr().out
    assert "BROKEN  broken.yaml: field formula: the formula ends where" in out
    assert "1 valid, 1 problem(s)" in out
