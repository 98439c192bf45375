"""``export``: write one on-demand export file now and print what was written."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from analytics_pipeline import settings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: expected YYYY-MM-DD") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    from analytics_pipeline.reports.export import KINDS

    parser = subparsers.add_parser(
        "export", help="write an export file now (user-growth, activity-trends, top-items, recent-activity, comprehensive)",
        description="Compute one export from the warehouse and write it to $ANALYTICS_REPORTS_DIR/exports/.")
    parser.add_argument("kind", help=f"one of: {', '.join(KINDS)}")
    parser.add_argument("--format", default="csv", help="csv (default), json or xlsx")
    parser.add_argument("--from", dest="start", type=_day, help="first day (YYYY-MM-DD), with --to")
    parser.add_argument("--to", dest="end", type=_day, help="last day, inclusive (YYYY-MM-DD)")
    parser.add_argument("--months", type=int, help="user-growth: the last N full months (default 12)")
    parser.add_argument("--days", type=int, help="the last N full days (default 30)")
    parser.add_argument("--limit", type=int, help="top-items: items per list (default 10); recent-activity: events (default 20)")
    parser.add_argument("--include-metadata", dest="include_metadata", action="store_true", default=True,
                        help="JSON: wrap the rows with metadata (default)")
    parser.add_argument("--no-metadata", dest="include_metadata", action="store_false", help="JSON: the bare list of rows")
    parser.add_argument("--gzip", action="store_true", help="gzip the file (.gz)")
    parser.add_argument("--out", type=Path, default=None, help="directory (default $ANALYTICS_REPORTS_DIR/exports)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    from analytics_pipeline.reports.export import ExportError, ExportRequest, run_export
    from analytics_pipeline.warehouse import Warehouse

    request = ExportRequest(kind=args.kind, format=args.format.lower(), start=args.start, end=args.end,
                            months=args.months, days=args.days, limit=args.limit,
                            include_metadata=args.include_metadata, gzip=args.gzip)
    try:
        result = run_export(Warehouse(settings.database_url()), request, args.out or settings.reports_dir() / "exports")
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        for key, value in result.as_dict().items():
            print(f"{key + ':':<13}{value}")
    return 0
