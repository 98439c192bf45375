"""Template files: the defaults load, broken files are reported by file and field and skipped."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.reports.definitions import build_report_defs
from analytics_pipeline.reports.templates import SCHEDULE_CRON, load_templates, parse_template
from analytics_pipeline.resources import default_resources
from analytics_pipeline.settings import REPO_ROOT
from analytics_pipeline_tests.reports.conftest import write_template


def test_the_four_seed_templates_ship_with_their_schedule_and_format():
    template_set = load_templates(REPO_ROOT / "report_templates")
    assert template_set.problems == []
    got = {t.id: (t.schedule, t.formats, t.cron, t.active) for t in template_set.templates}
    assert got == {
        "daily-activity-summary": ("daily", ("csv", "json", "xlsx", "pdf"), "0 9 * * *", True),
        "weekly-user-growth": ("weekly", ("csv", "json", "xlsx", "pdf"), "0 9 * * 1", True),
        "monthly-comprehensive": ("monthly", ("json", "csv", "xlsx", "pdf"), "0 9 1 * *", True),
        "quarterly-performance": ("quarterly", ("csv", "json", "xlsx", "pdf"), "0 9 1 1,4,7,10 *", True),
    }
    assert set(SCHEDULE_CRON) == {"daily", "weekly", "monthly", "quarterly"}


BROKEN = [
    ("schedule: hourly", "schedule", "expected one of daily, weekly, monthly, quarterly"),
    ("formats: [csv, docx]", "formats", "unknown value(s) ['docx']"),
    ("recipients: [not-an-address]", "recipients", "not an e-mail address: not-an-address"),
    ("active: maybe", "active", "expected true or false"),
    ("colour: blue", "colour", "unknown field"),
    ("content: {title: '{{ period.label '}", "content.title", "Jinja2 syntax error"),
    ("content: {sections: [overview, pie]}", "content.sections", "unknown value(s) ['pie']"),
    ("content: {top_limit: 50}", "content.top_limit", "expected an integer 1-10"),
    ("content: {metrics: [total_pageviews], summary: '{{ kpi.bounce_rate.value }}'}", "content.summary",
     "cannot render: 'dict object' has no attribute 'bounce_rate'"),
    ("content: {email_body: '{{ nonsense }}'}", "content.email_body", "cannot render: 'nonsense' is undefined"),
]


@pytest.mark.parametrize(("line", "field", "message"), BROKEN, ids=[f"{i}-{b[1]}" for i, b in enumerate(BROKEN)])
def test_a_broken_field_is_reported_with_file_field_and_reason(templates_dir: Path, line, field, message):
    write_template(templates_dir, id="good-report")
    base = "id: bad-report\nname: Bad\nschedule: daily\n"
    key = line.split(":", 1)[0]
    text = "\n".join(l for l in base.splitlines() if not l.startswith(key + ":")) + "\n" + line + "\n"
    (templates_dir / "bad-report.yaml").write_text(text)
    template_set = load_templates(templates_dir)
    assert [t.id for t in template_set.templates] == ["good-report"]
    (problem,) = template_set.problems
    assert (problem.file, problem.field) == ("bad-report.yaml", field)
    assert message in problem.problem


def test_invalid_yaml_missing_fields_id_mismatch_and_duplicates(templates_dir: Path):
    (templates_dir / "a-yaml.yaml").write_text("id: a-yaml\nname: [unclosed\n")
    (templates_dir / "no-name.yaml").write_text("id: no-name\nschedule: daily\n")
    (templates_dir / "other-name.yaml").write_text("id: mismatch\nname: X\nschedule: daily\n")
    (templates_dir / "list.yaml").write_text("- just\n- a list\n")
    write_template(templates_dir, id="dup")
    (templates_dir / "dup.yml").write_text("id: dup\nname: Again\nschedule: daily\n")
    (templates_dir / "notes.txt").write_text("not a template")
    template_set = load_templates(templates_dir)
    problems = {p.file: (p.field, p.problem) for p in template_set.problems}
    assert problems["a-yaml.yaml"][0].startswith("line ") and "invalid YAML" in problems["a-yaml.yaml"][1]
    assert problems["no-name.yaml"] == ("name", "required, a non-empty string")
    assert problems["other-name.yaml"][0] == "id" and "must match the file name" in problems["other-name.yaml"][1]
    assert problems["list.yaml"] == ("(file)", "expected a mapping of fields, got list")
    assert problems["dup.yml"][0] == "id" and "duplicate id 'dup'" in problems["dup.yml"][1]
    assert [t.id for t in template_set.templates] == ["dup"]


def test_a_broken_template_never_breaks_the_code_location(templates_dir: Path):
    write_template(templates_dir, id="good-report")
    (templates_dir / "bad-report.yaml").write_text("id: bad-report\nname: Bad\nschedule: fortnightly\n")
    with pytest.warns(UserWarning, match="bad-report.yaml: schedule"):
        defs = build_report_defs(templates_dir)
    repo = dg.Definitions.merge(defs, dg.Definitions(resources=default_resources())).get_repository_def()
    keys = [k.to_user_string() for k in repo.assets_defs_by_key]
    assert keys == ["reports/good-report"]
    assert defs.metadata["report_template_problem_count"].value == 1
    assert "bad-report.yaml" in defs.metadata["report_template_problems"].value


def test_cli_validate_lists_problems_and_exits_1(templates_dir: Path, capsys):
    write_template(templates_dir, id="good-report")
    assert main(["reports", "validate", "--dir", str(templates_dir)]) == 0
    (templates_dir / "bad-report.yaml").write_text("id: bad-report\nname: Bad\nschedule: daily\nformats: [docx]\n")
    assert main(["reports", "validate", "--dir", str(templates_dir)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN  bad-report.yaml: field formats: unknown value(s) ['docx']" in out
    assert "1 valid, 1 broken" in out


def test_format_alias_and_defaults():
    t = parse_template({"id": "x", "name": "X", "schedule": "monthly", "format": "JSON"}, "x.yaml")
    assert t.formats == ("json",) and t.include_metadata is True and t.active is True and t.recipients == ()
    assert t.slug == "x" and t.grain == "month"


def test_the_sample_context_templates_are_checked_with_has_the_shape_of_a_real_report(warehouse):
    from datetime import date

    from analytics_pipeline.reports.data import gather_report_data
    from analytics_pipeline.reports.templates import sample_context

    t = parse_template({"id": "x", "name": "X", "schedule": "weekly"}, "x.yaml")
    real = gather_report_data(warehouse, t, date(2024, 2, 26)).text_context()
    sample = sample_context(t)
    assert set(sample) == set(real)
    assert set(sample["period"]) == set(real["period"]) and set(sample["template"]) == set(real["template"])
    assert set(sample["kpis"][0]) == set(real["kpis"][0]) and set(sample["kpi"]) == set(real["kpi"])
    assert set(sample["sections"]) == set(real["sections"])
