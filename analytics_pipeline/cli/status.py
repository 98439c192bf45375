"""``status``: last run, next tick and errors of every job, schedule and sensor, with totals."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import datetime, timedelta

from analytics_pipeline import settings
from analytics_pipeline.alerts.rules import load_rules
from analytics_pipeline.alerts.status import StatusReport, collect_status


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status", help="job statuses and run metrics from the Dagster instance ($DAGSTER_HOME)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--days", type=float, default=7.0, help="window of the run totals (default 7)")
    parser.add_argument("-m", "--module", default="analytics_pipeline.definitions",
                        help="module whose `defs` lists the jobs, schedules and sensors (default: this code location)")
    parser.set_defaults(func=status)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _cut(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 3] + "..."


def render(report: StatusReport, rule_problems: list[str]) -> str:
    jobs = _table(
        ["job", "last status", "last run (UTC)", "duration", "next tick (UTC)", "error"],
        [[j.name, j.status, _when(j.last_run_at), _duration(j.duration_seconds), _when(j.next_tick),
          _cut(j.error)] for j in report.jobs],
    )
    instigators = _table(
        ["schedule/sensor", "kind", "state", "last tick (UTC)", "tick", "next tick (UTC)", "note"],
        [[i.name, i.kind, i.state, _when(i.last_tick_at), i.last_tick_status or "-", _when(i.next_tick),
          _cut(i.last_tick_note)] for i in report.instigators],
    )
    m = report.metrics
    totals = (f"jobs: {m.jobs}   runs since {_when(m.since)}: {m.runs}   successful: {m.successful}   "
              f"failed: {m.failed}   in progress: {m.in_progress}   "
              f"average duration: {_duration(m.average_duration_seconds)}")
    parts = [jobs, "", instigators, "", totals]
    if m.failing_jobs:
        parts.append("failing now (last run failed): " + ", ".join(m.failing_jobs))
    if report.problems:
        parts += ["", "NOT RUNNING:"] + [f"  {p}" for p in report.problems]
    if rule_problems:
        parts += ["", f"alert rule problems ({len(rule_problems)}):"] + [f"  {p}" for p in rule_problems]
    return "\n".join(parts)


def status(args: argparse.Namespace) -> int:
    import dagster as dg
    from dagster._core.errors import DagsterHomeNotSetError, DagsterInvariantViolationError

    try:
        instance = dg.DagsterInstance.get()
    except (DagsterHomeNotSetError, DagsterInvariantViolationError) as exc:
        print(f"cannot open the Dagster instance: {exc}\n"
              "Set DAGSTER_HOME (make dev / make demo use ./.dagster_home).", file=sys.stderr)
        return 2
    defs = importlib.import_module(args.module).defs
    with instance:
        report = collect_status(instance, defs, since=timedelta(days=args.days))
    rule_set = load_rules(settings.alert_rules_dir())
    problems = [str(e) for e in rule_set.errors]
    if args.json:
        document = report.to_dict()
        document["alert_rules"] = {"rules": [r.name for r in rule_set.rules], "problems": problems}
        print(json.dumps(document, indent=2))
    else:
        print(render(report, problems))
    return 1 if report.metrics.failing_jobs or report.problems else 0
