"""Warmed dashboard cache: warm-up time, and GET latency against answering from raw events
(issue 5, item 10).

    .venv/bin/python benchmarks/cache.py                                   # 3 websites x 90 days x 10,000 events/day
    .venv/bin/python benchmarks/cache.py --scale 0.05                      # 500 events/day
    .venv/bin/python benchmarks/cache.py --redis-url redis://127.0.0.1:6379/15 --backend postgresql

On a fresh warehouse (SQLite file in a temp dir, or a throwaway PostgreSQL database): demo
events for 3 websites and 90 days are generated, ingested, sessionised and aggregated into
daily / weekly / monthly statistics (not timed). Then, for the embedded cache and (with
``--redis-url``) Redis:

* **warm**: ``warm_all`` - every entry of every warming job (user-growth, activity-trends,
  top-items, recent-activity, the three summaries, performance-metrics) - timed end to end;
* **GET**: ``--gets`` reads of the 30-day ``analytics:summary:{from}:{to}`` entry, each a GET
  plus ``json.loads``, p50 / p99;
* **raw**: ``--raw-runs`` answers of the same 30-day summary straight from the events table
  (the seed's queries: count, count distinct visitor, group by type), p50 / p99.

The ratio is raw p50 / GET p50, all in the same process and run. The Redis database given is
flushed of ``analytics:*`` keys before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analytics_pipeline.cache import entries as E  # noqa: E402
from analytics_pipeline.cache.backends import Cache, EmbeddedCache, RedisCache  # noqa: E402
from analytics_pipeline.cache.warm import clear_all, warm_all  # noqa: E402
from analytics_pipeline.demo.generate import EventGenerator  # noqa: E402
from analytics_pipeline.ingestion.run import ingest_landing  # noqa: E402
from analytics_pipeline.partitions import period_start  # noqa: E402
from analytics_pipeline.sessions.build import update_sessions  # noqa: E402
from analytics_pipeline.stats.build import build_period  # noqa: E402
from analytics_pipeline.warehouse import Warehouse  # noqa: E402

PG_HOST = os.environ.get("ANALYTICS_BENCH_PG_HOST", "127.0.0.1")
PG_ADMIN_DSN = f"host={PG_HOST} port=5432 user=postgres dbname=postgres"
START_DAY = date(2024, 3, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def prepare(warehouse: Warehouse, landing: Path, days: int, websites: int, events_per_day: int,
            clock: datetime) -> dict[str, float]:
    started = time.perf_counter()
    gen = EventGenerator(seed=7, websites=websites, malformed_rate=0.0, duplicate_rate=0.0)
    written = gen.write_days(landing, START_DAY, days, events_per_day)
    result = ingest_landing(warehouse, landing, now=lambda: clock)
    update_sessions(warehouse, timeout_minutes=30, now=clock)
    all_days = [START_DAY + timedelta(days=k) for k in range(days)]
    for grain in ("day", "week", "month"):
        for start in sorted({period_start(grain, d) for d in all_days}):
            build_period(warehouse, grain, start)
    return {"events": result.loaded, "lines": written.lines, "seconds": time.perf_counter() - started}


def measure(warehouse: Warehouse, cache: Cache, clock: datetime, gets: int, raw_runs: int) -> dict:
    clear_all(cache)
    warmed = warm_all(warehouse, cache, clock)
    first, end = E.last_full_days(clock, 30)
    key = E.summary_key(E.midnight(first), E.midnight(end))
    expected = json.loads(cache.get(key))
    get_ms = []
    for _ in range(gets):
        t = time.perf_counter()
        value = json.loads(cache.get(key))
        get_ms.append((time.perf_counter() - t) * 1000)
    raw_ms = []
    for _ in range(raw_runs):
        t = time.perf_counter()
        raw = E.raw_summary(warehouse, E.midnight(first), E.midnight(end))
        raw_ms.append((time.perf_counter() - t) * 1000)
    # the cached summary (daily_stats + distinct visitors) must be the raw-events answer
    assert value == expected == raw, (value, raw)
    clear_all(cache)
    return {"warm": warmed, "key": key, "get_p50": percentile(get_ms, 50), "get_p99": percentile(get_ms, 99),
            "raw_p50": percentile(raw_ms, 50), "raw_p99": percentile(raw_ms, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies --events-per-day (e.g. 0.05)")
    parser.add_argument("--events-per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--websites", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--redis-url", default="", help="also measure Redis (this database's analytics:* keys are deleted)")
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--raw-runs", type=int, default=20)
    args = parser.parse_args()
    per_day = max(1, int(args.events_per_day * args.scale))
    end_day = START_DAY + timedelta(days=args.days)
    clock = datetime.combine(end_day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=12)

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        pg_name = None
        if args.backend == "sqlite":
            url = f"sqlite:///{tmp}/warehouse.db"
        else:
            import psycopg

            pg_name = f"bench_cache_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{pg_name}"')
            url = f"postgresql+psycopg://postgres@{PG_HOST}:5432/{pg_name}"
        try:
            warehouse = Warehouse(url)
            prep = prepare(warehouse, Path(tmp) / "landing", args.days, args.websites, per_day, clock)
            caches: list[Cache] = [EmbeddedCache(warehouse)]
            if args.redis_url:
                caches.append(RedisCache(args.redis_url))
            results = [(c, measure(warehouse, c, clock, args.gets, args.raw_runs)) for c in caches]
        finally:
            if pg_name:
                import psycopg

                from analytics_pipeline.warehouse.engine import dispose_engines

                dispose_engines()
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')

    print(f"\n{args.websites} websites x {args.days} days, {prep['events']:,} events in {args.backend} "
          f"(prepared in {prep['seconds']:.1f}s: ingest, sessions, daily/weekly/monthly stats)\n")
    print("| cache | entries | bytes | warm all (s) | GET summary p50 / p99 (ms) | raw events p50 / p99 (ms) | raw / GET (p50) |")
    print("|---|---|---|---|---|---|---|")
    for cache, r in results:
        w = r["warm"]
        print(f"| {cache.kind} | {w['entries']} | {w['bytes']:,} | {w['seconds']:.3f} | "
              f"{r['get_p50']:.3f} / {r['get_p99']:.3f} | {r['raw_p50']:.1f} / {r['raw_p99']:.1f} | "
              f"{r['raw_p50'] / r['get_p50']:,.0f}x |")
    print("\nwarm-up per job (s):")
    print("| cache | " + " | ".join(results[0][1]["warm"]["jobs"]) + " |")
    print("|---|" + "---|" * len(results[0][1]["warm"]["jobs"]))
    for cache, r in results:
        print(f"| {cache.kind} | " + " | ".join(f"{j['seconds']:.3f}" for j in r["warm"]["jobs"].values()) + " |")
    print(f"\nsummary key: {results[0][1]['key']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
