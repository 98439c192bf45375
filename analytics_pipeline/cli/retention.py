"""``retention``: run the retention job by hand (or as a dry run) against the local Dagster
instance, whose materialization records the guard needs; ``retention history`` lists the days
already dropped."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retention",
        help="delete raw events and sessions older than ANALYTICS_RETENTION_DAYS (guarded; --dry-run to preview)",
        description="Runs retention_job in this process against $DAGSTER_HOME: days strictly before "
        "today - ANALYTICS_RETENTION_DAYS (UTC) whose daily, weekly and monthly statistics are "
        "materialized and up to date are deleted; the others are kept and named.",
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    parser.add_argument("--pause", type=float, default=None, metavar="SECONDS",
                        help="pause between SQLite delete batches (default 0.01)")
    parser.add_argument("--history", action="store_true", help="list the days retention has dropped and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analytics_pipeline import settings
    from analytics_pipeline.retention.run import dropped_days
    from analytics_pipeline.warehouse import Warehouse

    if args.history:
        rows = Warehouse(settings.database_url()).query("select_retention_dropped_days")
        for row in rows:
            print(f"{Warehouse.to_date(row['day'])}  {int(row['events']):>10,} events  "
                  f"dropped {Warehouse.to_datetime(row['dropped_at']):%Y-%m-%d %H:%M} UTC  run {row['run_id'] or '-'}")
        print(f"{len(rows)} day(s) dropped" if rows else "no day has been dropped yet")
        return 0

    import dagster as dg

    from analytics_pipeline.definitions import build_defs

    defs = build_defs()

    try:
        instance = dg.DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - any failure to open the instance is reported the same way
        print(f"cannot open the Dagster instance ({exc}).\nSet DAGSTER_HOME (make dev / make demo use "
              "./.dagster_home): the guard needs its record of materialized statistics partitions.",
              file=sys.stderr)
        return 2
    config: dict[str, object] = {"dry_run": args.dry_run}
    if args.pause is not None:
        config["pause_seconds"] = args.pause
    with instance:
        result = defs.resolve_job_def("retention_job").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"apply_retention": {"config": config}},
                        "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={"analytics/trigger": "cli"},
        )
    if not result.success:
        print(f"retention_job failed: run {result.run_id}", file=sys.stderr)
        return 1
    summary = result.output_for_node("apply_retention")
    verb = "would delete" if summary["dry_run"] else "deleted"
    events = summary["events_to_delete"] if summary["dry_run"] else summary["events_deleted"]
    sessions = summary["sessions_to_delete"] if summary["dry_run"] else summary["sessions_deleted"]
    days = summary["days_to_drop"] if summary["dry_run"] else summary["days_dropped"]
    print(f"cutoff {summary['cutoff']} ({summary['retention_days']} days): {verb} {events:,} events on "
          f"{len(days)} day(s) and {sessions:,} sessions (last activity before {summary['sessions_before']})")
    for kept in summary["days_kept"]:
        print(f"  kept {kept['day']} ({kept['events']:,} events): " + "; ".join(kept["reasons"]))
    kept = summary["housekeeping"]
    key = "to_delete" if summary["dry_run"] else "deleted"
    print(f"housekeeping {verb} {kept[f'rejected_events_{key}']:,} rejected line(s), "
          f"{kept[f'ledger_files_{key}']:,} ledger file row(s), {kept[f'alert_history_{key}']:,} alert "
          f"history row(s), {kept[f'processed_files_{key}']:,} processed landing file(s)")
    print(f"oldest remaining day: {summary['oldest_remaining_day'] or 'none'}; "
          f"{summary['seconds']:.2f}s; run {result.run_id}")
    if not summary["dry_run"]:
        print(f"{len(dropped_days(Warehouse(settings.database_url())))} day(s) dropped so far "
              "(analytics-pipeline retention --history)")
    return 0
