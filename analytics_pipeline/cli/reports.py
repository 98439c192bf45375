"""``reports validate|stats|generate``: template checks, report statistics from the Dagster
instance, and writing a report without Dagster."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analytics_pipeline import settings
from analytics_pipeline.orchestration import markdown_table
from analytics_pipeline.reports.templates import load_templates


def register(subparsers: argparse._SubParsersAction) -> None:
    reports = subparsers.add_parser("reports", help="report templates, statistics and files")
    sub = reports.add_subparsers(dest="reports_command", required=True)

    validate = sub.add_parser("validate", help="check every template file; exit 1 if any is broken")
    validate.add_argument("--dir", type=Path, default=None, help="templates directory (default ANALYTICS_TEMPLATES_DIR)")
    validate.set_defaults(func=validate_templates)

    stats = sub.add_parser("stats", help="templates, active templates, successful/failed reports (Dagster instance)")
    stats.add_argument("--dir", type=Path, default=None)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=report_stats)

    gen = sub.add_parser("generate", help="write one report's files now (no Dagster run, no e-mail)")
    gen.add_argument("template_id")
    gen.add_argument("partition", help="the period's first day, YYYY-MM-DD")
    gen.add_argument("--dir", type=Path, default=None)
    gen.add_argument("--out", type=Path, default=None, help="reports directory (default ANALYTICS_REPORTS_DIR)")
    gen.set_defaults(func=generate)


def validate_templates(args: argparse.Namespace) -> int:
    template_set = load_templates(args.dir or settings.templates_dir())
    print(f"templates directory: {template_set.directory}")
    for t in template_set.templates:
        state = "active" if t.active else "inactive (schedule stopped)"
        print(f"  ok      {t.source}: {t.id} ({t.schedule} at {t.cron} UTC, {', '.join(t.formats)}, {state})")
    for problem in template_set.problems:
        print(f"  BROKEN  {problem.file}: field {problem.field}: {problem.problem}")
    print(f"{len(template_set.templates)} valid, {len(template_set.problems)} broken")
    return 1 if template_set.problems else 0


def report_stats(args: argparse.Namespace) -> int:
    import dagster as dg

    from analytics_pipeline.reports.history import report_statistics

    template_set = load_templates(args.dir or settings.templates_dir())
    try:
        instance = dg.DagsterInstance.get()
    except Exception as exc:  # DagsterHomeNotSetError and friends: say what to set
        reason = str(exc).strip().splitlines()[0]
        print(f"cannot open the Dagster instance: {reason} (make dev and make demo use .dagster_home)")
        return 2
    stats = report_statistics(instance, template_set.templates)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"Templates: {stats['totalTemplates']} ({stats['activeTemplates']} active)")
    print(f"Successful reports: {stats['successfulReports']}")
    print(f"Failed reports: {stats['failedReports']}")
    columns = ["template", "schedule", "active", "successful", "failed", "partitions", "last_success_partition",
               "last_success", "last_failure_partition", "last_delivery"]
    print(markdown_table(stats["templates"], columns, limit=1000))
    if template_set.problems:
        print(f"{len(template_set.problems)} broken template file(s): run `analytics-pipeline reports validate`")
    return 0


def generate(args: argparse.Namespace) -> int:
    from analytics_pipeline.reports.generate import write_report
    from analytics_pipeline.warehouse import Warehouse

    templates = load_templates(args.dir or settings.templates_dir()).by_id()
    if args.template_id not in templates:
        print(f"unknown or broken template {args.template_id!r}; known: {', '.join(sorted(templates))}")
        return 1
    paths = write_report(Warehouse(settings.database_url()), templates[args.template_id], args.partition,
                         args.out or settings.reports_dir())
    for path in paths:
        print(path)
    return 0
