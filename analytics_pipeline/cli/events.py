"""``generate-events`` and ``ingest``: demo data in, and ingestion without Dagster."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from analytics_pipeline import settings
from analytics_pipeline.demo.generate import EventGenerator
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.warehouse import Warehouse


def register(subparsers: argparse._SubParsersAction) -> None:
    gen = subparsers.add_parser("generate-events", help="write reproducible demo event files into the landing dir")
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--events-per-day", type=int, default=20_000)
    gen.add_argument("--websites", type=int, default=3)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--end", type=date.fromisoformat, default=None,
                     help="last day (UTC, default yesterday)")
    gen.add_argument("--out", type=Path, default=None, help="directory (default: the landing dir)")
    gen.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    gen.add_argument("--malformed-rate", type=float, default=0.002)
    gen.set_defaults(func=generate_events)

    ing = subparsers.add_parser("ingest", help="ingest pending landing files now (no Dagster run)")
    ing.set_defaults(func=ingest)


def generate_events(args: argparse.Namespace) -> int:
    end = args.end or (datetime.now(timezone.utc).date() - timedelta(days=1))
    start = end - timedelta(days=args.days - 1)
    out = args.out or settings.landing_dir()
    gen = EventGenerator(seed=args.seed, websites=args.websites, malformed_rate=args.malformed_rate)
    written = gen.write_days(out, start, args.days, args.events_per_day, gzip_files=args.gzip)
    print(f"wrote {written.lines:,} lines ({written.events:,} events, {written.duplicates:,} re-sent "
          f"duplicates, {written.malformed:,} malformed) in {len(written.paths)} files to {out}")
    return 0


def ingest(_args: argparse.Namespace) -> int:
    result = ingest_landing(Warehouse(settings.database_url()), settings.landing_dir(), log=print)
    print(f"{len(result.files)} files, {result.lines:,} lines: {result.loaded:,} loaded, "
          f"{result.duplicates:,} duplicates, {result.rejected:,} rejected "
          f"({result.events_per_second:,.0f} lines/s)")
    return 0
