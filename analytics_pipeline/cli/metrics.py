"""``metrics validate|show``: check the metric definition files; print a metric's stored values."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

from analytics_pipeline import settings
from analytics_pipeline.metrics.spec import load_metrics
from analytics_pipeline.orchestration import markdown_table


def register(subparsers: argparse._SubParsersAction) -> None:
    metrics = subparsers.add_parser("metrics", help="custom metric definition files and their values")
    sub = metrics.add_subparsers(dest="metrics_command", required=True)

    validate = sub.add_parser("validate", help="check every metric file; exit 1 if any is broken")
    validate.add_argument("--dir", type=Path, default=None, help="metrics directory (default ANALYTICS_METRICS_DIR)")
    validate.set_defaults(func=validate_metrics)

    show = sub.add_parser("show", help="stored values of one metric (daily rows and range totals)")
    show.add_argument("name")
    show.add_argument("--from", dest="from_day", default=None, help="first day, YYYY-MM-DD (default: 7 days before --to)")
    show.add_argument("--to", dest="to_day", default=None, help="last day, YYYY-MM-DD (default: the last day stored)")
    show.add_argument("--website", default=None, help="one website id, or 'all' for all websites combined")
    show.add_argument("--dimension", action="append", default=[], metavar="FIELD=VALUE",
                      help="keep rows whose dimension FIELD has VALUE (repeatable)")
    show.add_argument("--dir", type=Path, default=None)
    show.add_argument("--json", action="store_true", help="print the JSON answer")
    show.set_defaults(func=show_metric)


def validate_metrics(args: argparse.Namespace) -> int:
    metric_set = load_metrics(args.dir or settings.metrics_dir())
    print(f"metrics directory: {metric_set.directory}")
    for m in metric_set.metrics:
        print(f"  ok      {m.source}: {m.name} ({m.type}, {m.unit or 'no unit'}): {m.describe()}")
    for p in metric_set.problems:
        print(f"  BROKEN  {p.file}: field {p.field}: {p.problem}")
    print(f"{len(metric_set.metrics)} valid, {len(metric_set.problems)} problem(s)")
    return 1 if metric_set.problems else 0


def show_metric(args: argparse.Namespace) -> int:
    from analytics_pipeline.metrics.query import UnknownMetric, latest_day, metric_values
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(settings.database_url())
    dims = {}
    for item in args.dimension:
        field, sep, value = item.partition("=")
        if not sep:
            print(f"--dimension expects FIELD=VALUE, got {item!r}")
            return 2
        dims[field] = value
    try:
        to_day = date.fromisoformat(args.to_day) if args.to_day else latest_day(warehouse, args.name)
        if to_day is None:
            print(f"metric {args.name} has no stored values yet")
            return 0
        from_day = date.fromisoformat(args.from_day) if args.from_day else to_day - timedelta(days=6)
        answer = metric_values(warehouse, args.name, website=args.website, from_day=from_day, to_day=to_day,
                               dimensions=dims, metrics_dir=args.dir)
    except UnknownMetric:
        print(f"unknown or broken metric {args.name!r}: run `analytics-pipeline metrics validate`")
        return 1
    except ValueError as exc:
        print(str(exc))
        return 2
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(format_totals(answer))
    return 0


def format_totals(answer: dict, limit: int = 20) -> str:
    """A short table of a metric's range totals (used by the CLI and the demo)."""
    metric = answer["metric"]
    rows = [{"website": t["website"], **t["dimensions"], "value": "null" if t["value"] is None else f"{t['value']:g}",
             "events": t["events"]} for t in sorted(answer["totals"], key=lambda t: (t["website"], -t["events"]))]
    head = f"{metric['name']} ({metric['unit'] or metric['type']}), {answer['from']} to {answer['to']}"
    return head + "\n" + markdown_table(rows, limit=limit)
