"""Retention of 60 days out of a 5,000,000-event warehouse, on each backend (issue 4, item 8).

    .venv/bin/python benchmarks/retention.py                      # 5,000,000 events, both backends
    .venv/bin/python benchmarks/retention.py --events 500000 --backends sqlite

For each backend, on a fresh database: ``--events`` events spread evenly over ``--days`` UTC days
from 2024-01-01 are bulk-loaded straight into ``events`` (PostgreSQL: ``COPY`` into the day
partitions plus ``event_keys``; SQLite: ``executemany``), with one ``sessions`` row per
session. The daily, weekly and monthly statistics of every period containing one of the first
``--drop-days`` days are built with ``build_period`` and their partitions recorded as
materialized in a throwaway Dagster instance, so the guard passes. "Today" is then set so that
exactly those ``--drop-days`` days are older than the retention period.

Timed (untimed set-up excluded): a dry run (the guard: gathering facts, planning), then the real
run with the pipeline's defaults (SQLite: batches of 1000 with a 0.01 s pause; PostgreSQL: one
``DROP TABLE`` of the day partition plus that day's ``event_keys`` per transaction). The
statistics tables are compared before and after. PostgreSQL runs on 127.0.0.1:5432 as user
``postgres`` in a throwaway database that the script creates and drops.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from throwaway import fresh_database, PG_HOST, drop_database, postgres_unreachable


REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

START_DAY = date(2024, 1, 1)
LOADED_AT = datetime(2024, 12, 1, tzinfo=timezone.utc)
PATHS = ["/", "/pricing", "/docs", "/blog", "/about", "/signup", "/docs/api", "/blog/post-1"]
REFERRERS = [None, "google.com", None, "news.ycombinator.com", "twitter.com", None]
COLUMNS = ("event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer, "
           "occurred_at, properties, ingested_at, source_file, batch_id")


# -- databases -------------------------------------------------------------------------------



# -- data --------------------------------------------------------------------------------------
def day_rows(day_index: int, per_day: int, websites: int):
    """One day of synthetic events as tuples in ``events`` column order (UTC text timestamps)."""
    day = START_DAY + timedelta(days=day_index)
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    step = 86_400 / per_day
    ingested = LOADED_AT.strftime("%Y-%m-%d %H:%M:%S.%f")
    for i in range(per_day):
        session = i // 6
        custom = i % 10 == 9
        at = (midnight + timedelta(seconds=i * step)).strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (f"e{day_index:04d}-{i:07d}", f"site-{session % websites}", f"s{day_index:04d}-{session:06d}",
               f"v{(session * 7) % 20_000:05d}", "custom" if custom else "pageview",
               "signup" if custom else None, None if custom else PATHS[i % len(PATHS)],
               REFERRERS[session % len(REFERRERS)], at, None, ingested, "bench", day_index + 1)


def load(warehouse, days: int, per_day: int, websites: int) -> int:
    """Bulk-load the events (and, on PostgreSQL, their idempotency keys); the row count."""
    total = 0
    raw = warehouse.engine.raw_connection()
    try:
        db = raw.driver_connection
        if warehouse.is_sqlite:
            sql = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            for d in range(days):
                rows = list(day_rows(d, per_day, websites))
                db.execute("BEGIN IMMEDIATE")
                db.executemany(sql, rows)
                db.execute("COMMIT")
                total += len(rows)
        else:
            db.commit()
            for d in range(days):
                rows = list(day_rows(d, per_day, websites))
                with db.transaction(), db.cursor() as cur:
                    cur.execute("SELECT analytics_ensure_event_partition(%s)", (START_DAY + timedelta(days=d),))
                    with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row[:10] + (row[10] + "+00",) + row[11:])
                    with cur.copy("COPY event_keys (event_id, occurred_at) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row((row[0], row[8] + "+00"))
                total += len(rows)
            with db.cursor() as cur:
                cur.execute("ANALYZE events")
                cur.execute("ANALYZE event_keys")
            db.commit()
    finally:
        raw.close()
    return total


def load_sessions(warehouse) -> int:
    """One sessions row per session of the loaded events (what the sessions asset would hold)."""
    bounce = "count(*) = 1"
    sql = f"""
        INSERT INTO sessions (session_id, website_id, visitor_id, started_at, last_activity_at, ended_at,
                              duration_seconds, pageviews, events, entry_path, exit_path, referrer,
                              is_bounce, updated_at)
        SELECT session_id, min(website_id), min(visitor_id), min(occurred_at), max(occurred_at),
               max(occurred_at), NULL, sum(CASE WHEN event_type = 'pageview' THEN 1 ELSE 0 END),
               count(*), min(url_path), max(url_path), min(referrer), {bounce}, min(ingested_at)
        FROM events GROUP BY session_id"""
    with warehouse.begin() as conn:
        return conn.exec_driver_sql(sql).rowcount


def stats_fingerprint(warehouse) -> tuple[int, str]:
    digest, rows = hashlib.sha256(), 0
    with warehouse.connect() as conn:
        for table, key in (("daily_stats", "date"), ("weekly_stats", "period_start"), ("monthly_stats", "period_start")):
            for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY website_id, {key}"):
                digest.update(repr(tuple(str(v) for v in row)).encode())
                rows += 1
    return rows, digest.hexdigest()[:12]


# -- one backend -------------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict:
    import dagster as dg

    from analytics_pipeline.partitions import period_start
    from analytics_pipeline.retention.plan import GRAINS, STATS_ASSET
    from analytics_pipeline.retention.run import run_retention
    from analytics_pipeline.stats.build import build_period
    from analytics_pipeline.warehouse import Warehouse

    url = fresh_database(backend, workdir, "retention")
    try:
        warehouse = Warehouse(url)
        per_day = max(1, args.events // args.days)
        started = time.perf_counter()
        events = load(warehouse, args.days, per_day, args.websites)
        sessions = load_sessions(warehouse)
        print(f"{backend}: loaded {events:,} events and {sessions:,} sessions over {args.days} days "
              f"in {time.perf_counter() - started:.0f}s", flush=True)

        started = time.perf_counter()
        old_days = [START_DAY + timedelta(days=d) for d in range(args.drop_days)]
        periods = sorted({(g, period_start(g, d)) for d in old_days for g in GRAINS})
        with dg.instance_for_test() as instance:
            for grain, start in periods:
                build_period(warehouse, grain, start, now=LOADED_AT + timedelta(hours=1))
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key=STATS_ASSET[grain], partition=start.isoformat()))
            print(f"{backend}: built and recorded {len(periods)} statistics partitions in "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
            materialized = {g: instance.get_materialized_partitions(dg.AssetKey(STATS_ASSET[g])) for g in GRAINS}

        today = START_DAY + timedelta(days=args.drop_days + args.retention_days)
        stats_before = stats_fingerprint(warehouse)
        lines: list[str] = []
        common = dict(materialized=materialized, retention_days=args.retention_days, today=today,
                      batch_size=args.batch_size, pause_seconds=args.pause, log=lines.append)
        dry = run_retention(warehouse, dry_run=True, **common)
        real = run_retention(warehouse, **common)
        again = run_retention(warehouse, **common)
        stats_after = stats_fingerprint(warehouse)
        return {
            "backend": backend, "events": events, "sessions": sessions,
            "days_dropped": len(real.days_dropped), "days_kept": len(real.days_kept),
            "events_deleted": real.events_deleted, "sessions_deleted": real.sessions_deleted,
            "event_keys_deleted": real.event_keys_deleted, "batches": real.batches,
            "dry_seconds": dry.seconds, "seconds": real.seconds, "guard_seconds": real.guard_seconds,
            "events_seconds": real.events_seconds, "sessions_seconds": real.sessions_seconds, "rerun_seconds": again.seconds,
            "rerun_deleted": again.events_deleted + again.sessions_deleted,
            "size_before": real.size_before, "size_after": real.size_after,
            "stats_rows": stats_before[0], "stats_unchanged": stats_before == stats_after,
            "progress_lines": sum("Deleted batch of" in line or "Dropped partition" in line for line in lines),
        }
    finally:
        drop_database(url)


def size_text(sizes: dict[str, int]) -> str:
    if "events_bytes" in sizes:
        return f"{sizes['events_bytes'] / 2**20:,.0f} MB events + {sizes['event_keys_bytes'] / 2**20:,.0f} MB keys"
    return f"{sizes.get('used_bytes', 0) / 2**20:,.0f} MB used"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events in the warehouse (default 5,000,000)")
    parser.add_argument("--days", type=int, default=150, help="UTC days they span from 2024-01-01 (default 150)")
    parser.add_argument("--drop-days", type=int, default=60, help="days older than the retention period (default 60)")
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--websites", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000, help="SQLite rows per delete batch (default 1000)")
    parser.add_argument("--pause", type=float, default=0.01, help="SQLite pause between batches, s (default 0.01)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    if args.drop_days >= args.days:
        parser.error("--drop-days must be smaller than --days")

    import sqlite3

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends:
        why = postgres_unreachable()
        if why:
            print(f"PostgreSQL skipped: {PG_HOST}:5432 unreachable ({why})")
            backends.remove("postgresql")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        for backend in backends:
            results.append(run_backend(backend, args, Path(tmp)))

    print()
    print(f"Retention of {args.drop_days} of {args.days} days ({args.events:,} events, {args.websites} websites)")
    print()
    print("| backend | events deleted | sessions deleted | days dropped / kept | dry run s "
          "| retention s (guard + events + sessions) | rerun s | size before → after | stats rows unchanged |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        how = f"{r['batches']:,} batches" if r["batches"] else f"{r['days_dropped']} partitions"
        print(f"| {r['backend']} ({how}) | {r['events_deleted']:,} | {r['sessions_deleted']:,} "
              f"| {r['days_dropped']} / {r['days_kept']} | {r['dry_seconds']:.2f} | {r['seconds']:.2f} "
              f"({r['guard_seconds']:.2f} + {r['events_seconds']:.2f} + {r['sessions_seconds']:.2f}) "
              f"| {r['rerun_seconds']:.2f} | {size_text(r['size_before'])} → {size_text(r['size_after'])} "
              f"| {r['stats_rows']:,} {'yes' if r['stats_unchanged'] else 'NO'} |")
    return 0 if all(r["stats_unchanged"] and r["rerun_deleted"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

