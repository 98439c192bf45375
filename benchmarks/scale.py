"""Where one machine ends: the daily run and the storage of one day on PostgreSQL, by volume.

    .venv/bin/python benchmarks/scale.py                      # 1M, 5M and 20M events a day
    .venv/bin/python benchmarks/scale.py --sizes 1000000 5000000
    .venv/bin/python benchmarks/scale.py --quick              # 100,000 events: a smoke run

For each size, in a throwaway PostgreSQL database (127.0.0.1:5432, user ``postgres``, created
and dropped by the script):

* **set-up** (timed, not part of the daily run): one UTC day of demo traffic from
  ``EventGenerator.sessions_for_day`` (a few websites with zipf-weighted traffic, zipf pages and
  referrers, sessions of several events, returning visitors, custom events) is streamed with
  ``COPY`` straight into the day's ``events`` partition, bypassing ingestion (which has its own
  benchmark); ``event_keys`` is filled from it as ingestion would; then ``VACUUM (ANALYZE)``,
  as autovacuum would do in production before the night's run.
* **floor**: one sequential read of the day's partition (``count(*)``): every daily run reads the
  day's events at least once.
* **the daily run**, each step the code location's own function, no Dagster: the sessions
  update (``update_sessions``: every session of the day built from its events), the day's
  ``daily_stats`` (``build_period``), the cache refresh (``warm_all`` into the embedded cache
  table) and one report (the daily activity summary in all its formats).
* **storage per day**: ``pg_total_relation_size`` (table, indexes and TOAST) of the day's events
  partition, of ``event_keys`` (the idempotency keys), of ``sessions`` and of ``daily_stats``.

The machine is shared: read the times as measured under whatever load it had, and compare each
step with the floor of the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from throwaway import PG_HOST, drop_database, fresh_database, postgres_unreachable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAY = date(2024, 3, 15)
# The night after the day: every session of the day is closed by then.
NIGHT = datetime(2024, 3, 16, 1, 30, tzinfo=timezone.utc)
COLUMNS = ("event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer, "
           "occurred_at, properties, ingested_at, source_file, batch_id")
CHUNK_EVENTS = 200_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class Measurement:
    events: int
    load_seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    stats_rows: int = 0
    cache_entries: int = 0


def _field(value: str | None) -> str:
    """A value in COPY's text format."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def copy_blocks(events: int, websites: int, seed: int, batch_id: int):
    """COPY text of one generated day, in blocks of about ``CHUNK_EVENTS`` rows (the day is never
    held in memory whole: 20M events would not fit comfortably)."""
    import orjson

    from analytics_pipeline.demo.generate import EventGenerator
    from analytics_pipeline.ingestion.validate import normalise_referrer

    generator = EventGenerator(seed=seed, websites=websites)
    tail = f"\t{NIGHT.strftime('%Y-%m-%d %H:%M:%S')}+00\tbench-scale.jsonl\t{batch_id}\n"
    lines: list[str] = []
    for session in generator.sessions_for_day(DAY, events):
        for e in session:
            at = e["occurred_at"]
            if at[:10] != DAY.isoformat():
                continue  # a session running past midnight: its late events belong to the next day
            props = e.get("properties")
            lines.append("\t".join((
                _field(e["event_id"]), _field(e["website_id"]), _field(e["session_id"]),
                _field(e["visitor_id"]), e["event_type"], _field(e.get("event_name")),
                _field(e.get("url_path")), _field(normalise_referrer(e.get("referrer"))),
                f"{at[:10]} {at[11:23]}+00", _field(orjson.dumps(props).decode() if props else None),
            )) + tail)
        if len(lines) >= CHUNK_EVENTS:
            yield len(lines), "".join(lines).encode()
            lines = []
    if lines:
        yield len(lines), "".join(lines).encode()


def load_day(url: str, events: int, websites: int, seed: int) -> tuple[int, float, str]:
    """Generate and COPY one day; returns (events loaded, seconds, partition name)."""
    import psycopg

    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    started = time.perf_counter()
    with warehouse.begin() as conn:
        batch_id = conn.execute(warehouse.sql("insert_ingest_batch"), {
            "file_id": 0, "first_line": 1, "last_line": events, "committed_at": NIGHT}).scalar_one()
    loaded = 0
    with psycopg.connect(pg_dsn(url)) as db:
        partition = db.execute("SELECT analytics_ensure_event_partition(%s::date)", (DAY,)).fetchone()[0]
        db.commit()
        for rows, block in copy_blocks(events, websites, seed, int(batch_id)):
            with db.cursor() as cursor, cursor.copy(f"COPY {partition} ({COLUMNS}) FROM STDIN") as copy:
                for offset in range(0, len(block), 1 << 20):
                    copy.write(block[offset:offset + (1 << 20)])
            db.commit()
            loaded += rows
            print(f"  loaded {loaded:,} events", end="\r", flush=True)
        # Ingestion writes one key per event for idempotency; the same rows, in one statement.
        db.execute(f"INSERT INTO event_keys (event_id, occurred_at) SELECT event_id, occurred_at FROM {partition}")
        db.commit()
        db.autocommit = True
        db.execute(f"VACUUM (ANALYZE) {partition}")
        db.execute("VACUUM (ANALYZE) event_keys")
    print()
    with warehouse.begin() as conn:
        conn.execute(warehouse.sql("update_ingest_batch_loaded"), {"loaded": loaded, "batch_id": batch_id})
    return loaded, time.perf_counter() - started, partition


def pg_dsn(url: str) -> str:
    return f"host={PG_HOST} port=5432 user=postgres dbname={url.rsplit('/', 1)[1]}"


def relation_size(url: str, relation: str) -> int:
    import psycopg

    with psycopg.connect(pg_dsn(url)) as db:
        return int(db.execute("SELECT pg_total_relation_size(%s::regclass)", (relation,)).fetchone()[0])


def measure(size: int, websites: int, seed: int, workdir: Path) -> Measurement:
    import psycopg

    from analytics_pipeline.cache.backends import EmbeddedCache
    from analytics_pipeline.cache.warm import warm_all
    from analytics_pipeline.reports.generate import generate_report
    from analytics_pipeline.reports.templates import load_template
    from analytics_pipeline.sessions.build import update_sessions
    from analytics_pipeline.stats.build import build_period
    from analytics_pipeline.warehouse import Warehouse

    url = fresh_database("postgresql", workdir, "scale")
    try:
        m = Measurement(events=0)
        m.events, m.load_seconds, partition = load_day(url, size, websites, seed)
        print(f"  set-up: {m.events:,} events generated and copied in {m.load_seconds:.1f}s "
              f"({m.events / m.load_seconds:,.0f}/s)")
        warehouse = Warehouse(url)

        started = time.perf_counter()
        with psycopg.connect(pg_dsn(url)) as db:
            counted = db.execute(f"SELECT count(*) FROM {partition}").fetchone()[0]
        m.steps["floor: read the day"] = time.perf_counter() - started
        assert counted == m.events, (counted, m.events)

        result = update_sessions(warehouse, timeout_minutes=30, now=NIGHT)
        m.steps["sessions update"] = result.seconds
        print(f"  sessions update: {result.sessions_rebuilt:,} sessions in {result.seconds:.1f}s", flush=True)
        m.sessions = result.sessions_rebuilt
        with psycopg.connect(pg_dsn(url), autocommit=True) as db:
            db.execute("VACUUM (ANALYZE) sessions")  # autovacuum's job after a bulk upsert

        started = time.perf_counter()
        m.stats_rows = build_period(warehouse, "day", DAY, now=NIGHT)
        m.steps["daily_stats (one day)"] = time.perf_counter() - started
        print(f"  daily_stats: {m.steps['daily_stats (one day)']:.1f}s", flush=True)

        started = time.perf_counter()
        warmed = warm_all(warehouse, EmbeddedCache(warehouse), now=NIGHT)
        m.steps["cache refresh"] = time.perf_counter() - started
        print(f"  cache refresh: {m.steps['cache refresh']:.1f}s", flush=True)
        m.cache_entries = warmed["entries"]

        template = load_template(REPO / "report_templates" / "daily-activity-summary.yaml")
        started = time.perf_counter()
        generate_report(warehouse, template, DAY.isoformat(), workdir / "reports", now=NIGHT)
        m.steps["report (daily, 4 formats)"] = time.perf_counter() - started

        for name, relation in (("events partition", partition), ("event_keys", "event_keys"),
                               ("sessions", "sessions"), ("daily_stats", "daily_stats")):
            m.sizes[name] = relation_size(url, relation)
        return m
    finally:
        drop_database(url)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def print_tables(results: list[Measurement]) -> None:
    steps = list(results[0].steps)
    print("\nDaily run on PostgreSQL, seconds (one UTC day; floor = one sequential read of the day)")
    header = ["events/day", *steps, "daily run", "run / floor"]
    print("| " + " | ".join(header) + " |\n|" + "---:|" * len(header))
    for m in results:
        run = sum(v for k, v in m.steps.items() if not k.startswith("floor"))
        floor = m.steps["floor: read the day"]
        cells = [f"{m.events:,}", *(f"{m.steps[s]:.2f}" for s in steps), f"{run:.1f}", f"{run / floor:.0f}x"]
        print("| " + " | ".join(cells) + " |")

    print("\nStorage of one day, MB (pg_total_relation_size: table + indexes + TOAST)")
    names = list(results[0].sizes)
    header = ["events/day", *names, "total", "bytes/event", "event_keys share", "set-up (s)"]
    print("| " + " | ".join(header) + " |\n|" + "---:|" * len(header))
    for m in results:
        total = sum(m.sizes.values())
        cells = [f"{m.events:,}", *(_mb(m.sizes[n]) for n in names), _mb(total), f"{total / m.events:,.0f}",
                 f"{m.sizes['event_keys'] / total:.0%}", f"{m.load_seconds:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print("\nsessions built / daily_stats rows / cache entries: " + "; ".join(
        f"{m.events:,}: {m.sessions:,} / {m.stats_rows} / {m.cache_entries}" for m in results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000],
                        help="events per day to measure (default 1M 5M 20M)")
    parser.add_argument("--quick", action="store_true", help="one day of 100,000 events (under a minute)")
    parser.add_argument("--websites", type=int, default=5)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    if args.quick:
        args.sizes = [100_000]
    reason = postgres_unreachable()
    if reason:
        print(f"PostgreSQL on {PG_HOST}:5432 is not reachable: {reason}", file=sys.stderr)
        return 2
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for size in args.sizes:
            print(f"{size:,} events a day:")
            results.append(measure(size, args.websites, args.seed, Path(tmp)))
            print_tables(results)  # after every size: a long run still leaves figures behind
    print(f"\nload average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
