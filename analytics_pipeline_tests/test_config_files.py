"""read_yaml parses with libyaml when PyYAML has it and falls back to the pure-Python parser for
what libyaml refuses: the values are those of yaml.safe_load, a problem names the line and
column and the message yaml.safe_load gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analytics_pipeline import config_files
from analytics_pipeline.config_files import YamlFileError, read_yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILES = sorted(p for d in ("report_templates", "alert_rules", "metric_definitions")
                      for p in (REPO / d).glob("*.yaml"))


def test_the_fast_parser_is_used_here() -> None:
    assert config_files._FAST_LOADER is yaml.CSafeLoader  # the benchmarks assume it


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_repository_config_files_read_as_safe_load_reads_them(path: Path) -> None:
    assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_values_of_every_kind_are_those_of_safe_load(tmp_path: Path) -> None:
    text = ("id: a\nwhen: 2024-01-01\nat: 2024-01-01T09:00:00Z\nratio: 0.5\nnone: ~\nyes_no: [yes, no, on]\n"
            "octal: 0o17\nblock: |\n  two\n  lines\nfolded: >\n  one\n  line\nanchors: {a: &x 1, b: *x}\n"
            "quoted: \"\\u00e9\\t\"\nempty:\n")
    path = tmp_path / "kinds.yaml"
    path.write_text(text, encoding="utf-8")
    assert read_yaml(path) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a: b: c\n", "x: [1, 2\n", "- a\nb: c\n", "a:\n\t- b\n"])
def test_a_broken_file_reports_what_safe_load_says(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.safe_load(text)
    with pytest.raises(YamlFileError) as got:
        read_yaml(path)
    mark = expected.value.problem_mark
    assert (got.value.problem, got.value.line, got.value.column) == (
        expected.value.problem, mark.line + 1, mark.column + 1)


def test_an_unreadable_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(YamlFileError) as got:
        read_yaml(path)
    assert got.value.unreadable
