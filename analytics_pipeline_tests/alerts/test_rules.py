"""Rule files: the shipped defaults load; every kind of broken file is reported with its file,
field and problem, and never raises."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from analytics_pipeline import settings
from analytics_pipeline.alerts.rules import load_rules, parse_duration


def write(dir_: Path, name: str, text: str) -> Path:
    path = dir_ / name
    path.write_text(text)
    return path


def test_shipped_rules_and_routes_load_without_problems() -> None:
    rule_set = load_rules(settings.alert_rules_dir())
    assert rule_set.errors == []
    assert {r.name for r in rule_set.rules} == {"traffic_anomaly", "sitewide_drop", "high_bounce_rate"}
    anomaly = next(r for r in rule_set.rules if r.name == "traffic_anomaly")
    assert (anomaly.condition, anomaly.threshold, anomaly.window_days, anomaly.cooldown) == (
        "anomaly", 3.0, 28, timedelta(hours=24))
    assert rule_set.routes.default == ("email", "webhook")


def test_a_valid_file_with_a_list_of_rules(tmp_path: Path) -> None:
    write(tmp_path, "signups.yaml", """
rules:
  - name: signups_low
    metric: events_by_type.signup
    website: shop
    condition: below
    threshold: 5
    channels: ["email:growth@example.com", webhook]
    cooldown: 90m
  - metric: unique_visitors
    condition: change_pct
    threshold: 40
    direction: up
""")
    rule_set = load_rules(tmp_path)
    assert rule_set.errors == []
    first, second = rule_set.rules
    assert (first.name, first.website, first.channels, first.cooldown) == (
        "signups_low", "shop", ("email:growth@example.com", "webhook"), timedelta(minutes=90))
    assert (second.name, second.website, second.direction, second.channels) == ("signups_2", "*", "up", None)


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("metric: total_pageviews\ncondition: above: x\nthreshold: 1\n", "(yaml)", "line 2, column 17: mapping values are not allowed here"),
        ("condition: above\nthreshold: 1\n", "metric", "missing"),
        ("metric: top_pages\ncondition: above\nthreshold: 1\n", "metric", "'top_pages' is not a numeric daily_stats column"),
        ("metric: total_pageviews\ncondition: spikes\nthreshold: 1\n", "condition", "'spikes' is not one of"),
        ("metric: total_pageviews\ncondition: above\nthreshold: lots\n", "threshold", "must be a number"),
        ("metric: total_pageviews\ncondition: anomaly\nthreshold: 0\n", "threshold", "greater than 0"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\nseverity: doom\n", "severity", "'doom'"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\nchannels: [pager]\n", "channels", "unknown channel 'pager'"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\nchannels: ['webhook:ftp://x']\n", "channels", "http(s) URL"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\ncooldown: soon\n", "cooldown", "duration"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\nthreshhold: 2\n", "threshhold", "unknown field"),
        ("metric: total_pageviews\ncondition: above\nthreshold: 1\ndirection: up\n", "direction", "only applies"),
        ("metric: total_pageviews\ncondition: anomaly\nthreshold: 3\nmin_history: 40\n", "min_history", "more than window_days"),
        ("", "(file)", "is empty"),
        ("- just\n- a list\n", "(rule)", "expected a mapping"),
    ],
)
def test_a_broken_rule_file_is_reported_with_file_field_and_problem(
        tmp_path: Path, text: str, field: str, problem: str) -> None:
    write(tmp_path, "good.yaml", "metric: total_pageviews\ncondition: above\nthreshold: 1000\n")
    write(tmp_path, "broken.yaml", text)
    rule_set = load_rules(tmp_path)
    assert [r.name for r in rule_set.rules] == ["good"]  # the valid file still counts
    assert len(rule_set.errors) == 1, rule_set.errors
    error = rule_set.errors[0]
    assert (error.file, error.field) == ("broken.yaml", field)
    assert problem in error.problem
    assert str(error).startswith(f"broken.yaml: {field}: ")


def test_duplicate_rule_names_and_bad_routes(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: same\nmetric: total_pageviews\ncondition: above\nthreshold: 1\n")
    write(tmp_path, "b.yaml", "name: same\nmetric: total_pageviews\ncondition: below\nthreshold: 1\n")
    write(tmp_path, "routes.yaml", "default: [email]\nowners:\n  team:web: [sms]\n")
    rule_set = load_rules(tmp_path)
    assert [r.file for r in rule_set.rules] == ["a.yaml"]
    assert [str(e) for e in rule_set.errors] == [
        "b.yaml: name: 'same' is already defined in a.yaml",
        "routes.yaml: owners.team:web: unknown channel 'sms'; use one of email, webhook "
        "(optionally 'email:<addresses>' or 'webhook:<url>')",
    ]
    assert rule_set.routes.default == ("email",)
    assert rule_set.routes.for_owner("team:web") == ("email",)  # broken owner route falls back


def test_missing_directory_means_no_rules(tmp_path: Path) -> None:
    rule_set = load_rules(tmp_path / "nowhere")
    assert (rule_set.rules, rule_set.errors) == ([], [])


@pytest.mark.parametrize(("text", "minutes"), [("30m", 30), ("6h", 360), ("1d", 1440), (45, 45), ("2.5h", 150)])
def test_durations(text: object, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


def test_the_code_location_loads_with_a_broken_rules_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "broken.yaml", "metric: [unclosed\n")
    monkeypatch.setenv("ANALYTICS_ALERT_RULES_DIR", str(tmp_path))
    from analytics_pipeline.alerts.resources import default_alerting
    import dagster as dg

    from analytics_pipeline.alerts import definitions

    alerting = default_alerting()
    defs = dg.Definitions(sensors=definitions.defs.sensors, resources={"alerting": alerting})
    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {
        "job_failure_alert_sensor", "daily_stats_alert_sensor", "pipeline_health_sensor"}
    with dg.build_resources({"alerting": alerting}) as resolved:  # EnvVar resolved like in a sensor
        problems = [str(e) for e in resolved.alerting.rule_set().errors]
    assert len(problems) == 1 and problems[0].startswith("broken.yaml: (yaml): line 2")
