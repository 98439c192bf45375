"""Statistics aggregation: the Dagster pipeline against the floor of its bare SQL (issue 3, item 10).

    .venv/bin/python benchmarks/aggregate.py                      # 5,000,000 events, 30 days, both backends
    .venv/bin/python benchmarks/aggregate.py --events 500000 --backends sqlite
    .venv/bin/python benchmarks/aggregate.py --events 500000 --days 3 --explain --variants

Set-up (timed and reported, but not part of the comparison): demo events from
``EventGenerator.sessions_for_day`` (3 websites, realistic sessions, referrers normalised as
ingestion does) are bulk-loaded straight into ``events`` - PostgreSQL: ``COPY`` into the day
partitions made by ``analytics_ensure_event_partition``; SQLite: ``executemany`` in one
transaction per day - with one ``ingest_batches`` row per day as their ``batch_id``, then
``sessions.build.update_sessions`` builds the sessions (row "sessions build") and the tables
are analysed.

Then, on each backend (SQLite: a temp file; PostgreSQL: a throwaway database on 127.0.0.1:5432,
user ``postgres``, created and dropped by the script):

* **floor**: ``insert_period_stats`` (the asset's own SQL file, same parameters from
  ``stats.build.period_params``) run bare on one SQLAlchemy connection, one commit per period,
  no Dagster, no delete, no check.
* **pipeline**: the real job of the code location, ``daily_stats_job`` from
  ``analytics_pipeline.definitions``, run with ``execute_in_process`` on a temporary
  DagsterInstance (SQLite storage, like ``dagster dev``): one partition for "one day", and the
  whole range as ONE run (``dagster/asset_partition_range_*`` tags, ``BackfillPolicy.single_run``)
  for the backfill. It includes what the asset does beyond the SQL: delete-and-insert per
  partition, ``stats_dirty`` marks, the preview read, the ``reconciles_with_raw_events`` check,
  and Dagster's run, event log and metadata.

``--zones`` compares the 30-day backfill (the same job, one run) with every website at UTC and
with a websites file that puts the three websites in three zones (site-01 America/New_York,
site-02 Asia/Kolkata, site-03 on the default UTC), interleaved over ``--rounds`` rounds, best
of each; the zoned run is then reconciled with the events in local days. ``--quick`` is a
small size (150,000 events) that runs in under a minute.

``--cli`` also times the README's headless backfill command (``dagster asset materialize ...
--partition-range``) as a subprocess: what a user waits for, including process start and code
location load. ``--explain`` prints PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)`` of one day;
``--variants`` times one-day floors of session settings and SQL variants on PostgreSQL.
"""

from __future__ import annotations

import argparse
from functools import partial
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from throwaway import fresh_database, PG_ADMIN_DSN, PG_HOST, drop_database, postgres_unreachable, process_cpu_seconds


REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

START_DAY = date(2024, 3, 1)
# After every generated event, fixed so runs compare: every session is closed by then.
CLOCK = datetime(2024, 6, 1, tzinfo=timezone.utc)
COLUMNS = ("event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer, "
           "occurred_at, properties, ingested_at, source_file, batch_id")


@dataclass
class Backend:
    name: str
    url: str
    warehouse: object = None
    load_seconds: float = 0.0
    sessions_seconds: float = 0.0
    sessions: int = 0
    events: int = 0
    results: dict = field(default_factory=dict)


# -- databases -------------------------------------------------------------------------------



def pg_dsn(url: str) -> str:
    return f"host={PG_HOST} port=5432 user=postgres dbname={url.rsplit('/', 1)[1]}"


def analyse(backend: Backend, tables: list[str]) -> None:
    """Statistics and visibility for the planner, so that the first timed reader does not pay
    for setting hint bits on freshly loaded rows."""
    if backend.name == "sqlite":
        with backend.warehouse.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        return
    import psycopg

    with psycopg.connect(pg_dsn(backend.url), autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")


# -- loading ---------------------------------------------------------------------------------
def day_rows(generator, day: date, events: int) -> list[tuple]:
    """One day of generated sessions as events rows (first 10 columns), SQLite timestamp text,
    in time order: live ingestion writes events as their files arrive, i.e. roughly in the order
    they happened (the generator makes sessions in random order within the day)."""
    import orjson

    from analytics_pipeline.ingestion.validate import normalise_referrer

    rows = []
    for session in generator.sessions_for_day(day, events):
        for e in session:
            at = e["occurred_at"]  # 2024-03-01T12:34:56.789Z
            props = e.get("properties")
            rows.append((e["event_id"], e["website_id"], e["session_id"], e["visitor_id"], e["event_type"],
                         e.get("event_name"), e.get("url_path"), normalise_referrer(e.get("referrer")),
                         f"{at[:10]} {at[11:23]}000", orjson.dumps(props).decode() if props else None))
    rows.sort(key=lambda r: r[8])
    return rows


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: str | None) -> str:
    """A value in COPY's text format."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def new_batch(backend: Backend, rows: int) -> int:
    wh = backend.warehouse
    with wh.begin() as conn:
        batch_id = conn.execute(wh.sql("insert_ingest_batch"),
                                {"file_id": 0, "first_line": 1, "last_line": rows, "committed_at": wh.ts(CLOCK)}).scalar_one()
        conn.execute(wh.sql("update_ingest_batch_loaded"), {"loaded": rows, "batch_id": batch_id})
    return int(batch_id)


def load_day(backend: Backend, rows: list[tuple], days_touched: set[str]) -> None:
    wh = backend.warehouse
    started = time.perf_counter()
    batch_id = new_batch(backend, len(rows))
    source = "bench-aggregate.jsonl"
    ingested = CLOCK.strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = wh.engine.raw_connection()
    try:
        db = raw.driver_connection
        if backend.name == "sqlite":
            tail = (ingested, source, batch_id)
            db.execute("BEGIN IMMEDIATE")
            db.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [r + tail for r in rows])
            db.execute("COMMIT")
        else:
            db.commit()
            for day in sorted({r[8][:10] for r in rows} - days_touched):
                db.execute("SELECT analytics_ensure_event_partition(%s::date)", (day,))
                days_touched.add(day)
            db.commit()
            tail = f"\t{ingested}+00\t{source}\t{batch_id}\n"
            block = "".join(
                "\t".join(map(_copy_field, r[:8])) + "\t" + r[8] + "+00\t" + _copy_field(r[9]) + tail for r in rows
            ).encode()
            with db.transaction(), db.cursor() as cursor, cursor.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                for offset in range(0, len(block), 1 << 20):
                    copy.write(block[offset:offset + (1 << 20)])
    finally:
        raw.close()
    backend.load_seconds += time.perf_counter() - started
    backend.events += len(rows)


def prepare(backends: list[Backend], args: argparse.Namespace) -> None:
    from analytics_pipeline.demo.generate import EventGenerator
    from analytics_pipeline.sessions.build import update_sessions
    from analytics_pipeline.warehouse import Warehouse

    for b in backends:
        b.warehouse = Warehouse(b.url)
    generator = EventGenerator(seed=args.seed, websites=args.websites)
    per_day = max(1, args.events // args.days)
    generate_seconds = 0.0
    touched: dict[str, set[str]] = {b.name: set() for b in backends}
    for offset in range(args.days):
        started = time.perf_counter()
        rows = day_rows(generator, START_DAY + timedelta(days=offset), per_day)
        generate_seconds += time.perf_counter() - started
        for b in backends:
            load_day(b, rows, touched[b.name])
    print(f"generated {backends[0].events if backends else 0:,} events over {args.days} days "
          f"({args.websites} websites) in {generate_seconds:.0f}s")
    for b in backends:
        started = time.perf_counter()
        analyse(b, ["events"])
        b.load_seconds += time.perf_counter() - started
        result = update_sessions(b.warehouse, timeout_minutes=30, now=CLOCK)
        b.sessions_seconds = result.seconds
        b.sessions = result.sessions_rebuilt
        analyse(b, ["sessions"])
        print(f"{b.name}: bulk load {b.events:,} events {b.load_seconds:.1f}s "
              f"({b.events / b.load_seconds:,.0f}/s); sessions build {b.sessions:,} sessions {b.sessions_seconds:.1f}s")


# -- the floor -------------------------------------------------------------------------------
def clear_stats(backend: Backend, grain: str, periods: list[date]) -> None:
    from analytics_pipeline.stats.build import GRAIN_TABLES

    wh = backend.warehouse
    table, key_column = GRAIN_TABLES[grain]
    with wh.begin() as conn:
        for p in periods:
            conn.execute(wh.sql("delete_period_stats", table=table, key_column=key_column), {"period": wh.day(p)})


def cpu_clock(conn, backend: Backend):
    """A function returning the CPU seconds spent so far by whoever runs the SQL: this process
    for SQLite, the server backend of ``conn`` for a local PostgreSQL (None when not readable).
    CPU time is far less disturbed than wall time by other work on a shared machine."""
    if backend.name == "sqlite":
        return time.process_time
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    conn.commit()
    return partial(process_cpu_seconds, pid)


LAST_FLOOR_CPU: dict[str, float | None] = {}


def floor(backend: Backend, grain: str, periods: list[date], sql_text: str | None = None,
          settings: dict[str, str] | None = None) -> float:
    """The bare aggregation SQL over ``periods``, one commit each; wall seconds (the CPU
    seconds of the SQL are left in ``LAST_FLOOR_CPU``)."""
    import sqlalchemy as sa

    from analytics_pipeline.stats.build import GRAIN_TABLES, period_params

    wh = backend.warehouse
    table, key_column = GRAIN_TABLES[grain]
    statement = sa.text(sql_text or wh.sql_text("insert_period_stats", table=table, key_column=key_column))
    clear_stats(backend, grain, periods)
    with wh.engine.connect() as conn:
        for name, value in (settings or {}).items():
            conn.exec_driver_sql(f"SET {name} = '{value}'")
        conn.commit()
        cpu = cpu_clock(conn, backend)
        cpu_started = cpu()
        started = time.perf_counter()
        for p in periods:
            conn.execute(statement, {**period_params(wh, grain, p), "computed_at": wh.ts(CLOCK)})
            conn.commit()
        seconds = time.perf_counter() - started
        cpu_ended = cpu()
        LAST_FLOOR_CPU["seconds"] = None if cpu_started is None else cpu_ended - cpu_started
        if settings:
            conn.exec_driver_sql("RESET ALL")
            conn.commit()
    return seconds


# -- the pipeline ----------------------------------------------------------------------------
# Dagster's console logger at WARNING: the run still writes every event to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
JOBS = {"day": "daily_stats_job", "week": "weekly_stats_job", "month": "monthly_stats_job"}


DEFS: list = []


def load_code_location() -> str:
    """Import the code location once, before the long load (the jobs are then fixed for the
    whole run). Falls back to the stats stage with the code location's resources when another
    stage does not import; says which was used."""
    try:
        from analytics_pipeline.definitions import defs

        DEFS.append(defs)
        return "analytics_pipeline.definitions"
    except Exception as exc:  # noqa: BLE001 - any stage failing to import
        import dagster as dg

        from analytics_pipeline.resources import default_resources
        from analytics_pipeline.stats.definitions import defs as stats_defs

        DEFS.append(dg.Definitions.merge(stats_defs, dg.Definitions(resources=default_resources())))
        return f"analytics_pipeline.stats.definitions + default resources (code location failed: {exc})"


def pipeline(backend: Backend, grain: str, periods: list[date], instance) -> tuple[float, float]:
    """One run of the code location's job over ``periods``; (wall seconds, the asset's own
    build seconds from its materialization metadata)."""
    defs = DEFS[0]
    os.environ["ANALYTICS_DATABASE_URL"] = backend.url  # the resources' EnvVar, read at run start
    job = defs.resolve_job_def(JOBS[grain])
    clear_stats(backend, grain, periods)
    keys = [p.isoformat() for p in periods]
    kwargs = ({"partition_key": keys[0]} if len(keys) == 1 else
              {"tags": {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}})
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=QUIET, **kwargs)
    seconds = time.perf_counter() - started
    assert result.success
    build = 0.0
    for event in result.get_asset_materialization_events():
        # the run's build loop (each partition also records its own duration_seconds)
        value = (event.materialization.metadata.get("run_duration_seconds")
                 or event.materialization.metadata.get("duration_seconds"))
        build = max(build, float(value.value)) if value is not None else build
    return seconds, build


def cli_backfill(backend: Backend, periods: list[date], workdir: Path) -> float:
    """The README's headless backfill, as a user runs it (a fresh process and instance)."""
    home = workdir / f"dagster-home-{backend.name}"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    clear_stats(backend, "day", periods)
    env = dict(os.environ, DAGSTER_HOME=str(home), ANALYTICS_DATABASE_URL=backend.url,
               ANALYTICS_DATA_DIR=str(workdir / "data"))
    cmd = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "analytics_pipeline.definitions",
           "--select", "daily_stats", "--partition-range", f"{periods[0]}...{periods[-1]}"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"CLI backfill failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds


def check_seconds(backend: Backend, periods: list[date]) -> float:
    from analytics_pipeline.stats.checks import daily_mismatches

    started = time.perf_counter()
    bad = daily_mismatches(backend.warehouse, periods[0], periods[-1])
    assert not bad, bad[:3]
    return time.perf_counter() - started


def verify(backend: Backend, periods: list[date]) -> None:
    """The backfill wrote one row per website and day, and its totals equal the events table."""
    wh = backend.warehouse
    with wh.connect() as conn:
        import sqlalchemy as sa

        rows, pageviews = conn.execute(sa.text(
            "SELECT count(*), sum(total_pageviews) + sum(total_custom_events) FROM daily_stats "
            "WHERE date >= :a AND date <= :b"), {"a": wh.day(periods[0]), "b": wh.day(periods[-1])}).one()
        events = conn.execute(sa.text("SELECT count(*) FROM events WHERE occurred_at >= :a AND occurred_at < :b"),
                              {"a": wh.ts(datetime.combine(periods[0], datetime.min.time(), tzinfo=timezone.utc)),
                               "b": wh.ts(datetime.combine(periods[-1] + timedelta(days=1), datetime.min.time(),
                                                           tzinfo=timezone.utc))}).scalar_one()
    if int(pageviews) != int(events):
        raise AssertionError(f"{backend.name}: daily_stats count {pageviews} events, the table has {events}")
    backend.results["rows"] = int(rows)


def measure(backend: Backend, args: argparse.Namespace, workdir: Path) -> None:
    import dagster as dg

    days = [START_DAY + timedelta(days=i) for i in range(args.days)]
    one_day = days[len(days) // 2]
    week = next((d for d in days if d.weekday() == 0 and d + timedelta(days=6) <= days[-1]), None)
    month = START_DAY.replace(day=1)
    r = backend.results
    with dg.instance_for_test() as instance:
        # Warm the code location and the instance once, untimed (a deployment has both loaded).
        pipeline(backend, "day", [one_day], instance)
        # Pipeline first: any cache warming by the first pass benefits the floor, not us.
        r["day_pipeline"], r["day_build"] = pipeline(backend, "day", [one_day], instance)
        r["day_floor"] = floor(backend, "day", [one_day])
        r["range_pipeline"], r["range_build"] = pipeline(backend, "day", days, instance)
        verify(backend, days)
        r["range_floor"] = floor(backend, "day", days)
        r["range_check"] = check_seconds(backend, days)
        if week:
            r["week"] = week
            r["week_pipeline"], _ = pipeline(backend, "week", [week], instance)
            r["week_floor"] = floor(backend, "week", [week])
        r["month"] = month
        r["month_pipeline"], _ = pipeline(backend, "month", [month], instance)
        r["month_floor"] = floor(backend, "month", [month])
    if args.cli:
        try:
            r["range_cli"] = cli_backfill(backend, days, workdir)
        except RuntimeError as exc:
            print(f"{backend.name}: {str(exc)[-1500:]}")
    print(f"{backend.name}: measured ({r.get('rows', 0)} daily_stats rows verified against events)")


ZONES = {"websites": [{"id": "site-01", "name": "New York", "timezone": "America/New_York"},
                      {"id": "site-02", "name": "Kolkata", "timezone": "Asia/Kolkata"}]}


def compare_zones(backend: Backend, args: argparse.Namespace, workdir: Path) -> None:
    """The backfill all-UTC and in three zones, interleaved; best wall and build seconds of each."""
    import dagster as dg
    import yaml

    from analytics_pipeline.stats.checks import daily_mismatches
    from analytics_pipeline.websites import load_websites

    zoned = workdir / "websites.yaml"
    zoned.write_text(yaml.safe_dump(ZONES))
    files = {"all UTC": workdir / "no-websites.yaml", "3 zones": zoned}
    days = [START_DAY + timedelta(days=i) for i in range(args.days)]
    best: dict[str, tuple[float, float]] = {}
    with dg.instance_for_test() as instance:
        pipeline(backend, "day", [days[0]], instance)  # warm the code location and instance
        for _ in range(args.rounds):
            for mode, path in files.items():
                os.environ["ANALYTICS_WEBSITES_FILE"] = str(path)
                wall, build = pipeline(backend, "day", days, instance)
                old = best.get(mode)
                best[mode] = (min(old[0], wall), min(old[1], build)) if old else (wall, build)
    os.environ["ANALYTICS_WEBSITES_FILE"] = str(zoned)
    bad = daily_mismatches(backend.warehouse, days[0], days[-1], websites=load_websites(zoned, "UTC"))
    assert not bad, bad[:3]
    os.environ.pop("ANALYTICS_WEBSITES_FILE")
    backend.results["zones"] = best


def print_zones_table(backends: list[Backend], args: argparse.Namespace) -> None:
    print()
    print(f"| backend | {args.days}-day backfill all UTC s | 3 zones s | ratio | build loop all UTC s | 3 zones s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for b in backends:
        z = b.results["zones"]
        (uw, ub), (zw, zb) = z["all UTC"], z["3 zones"]
        print(f"| {b.name} | {uw:.2f} | {zw:.2f} | {zw / uw:.2f} | {ub:.2f} | {zb:.2f} | {zb / ub:.2f} |")
    print(f"(best of {args.rounds} interleaved rounds each; the 3-zone run reconciled with events in local days)")


# -- PostgreSQL profiling --------------------------------------------------------------------
def explain(backend: Backend, day: date, sql_text: str | None = None, settings: dict | None = None) -> str:
    import sqlalchemy as sa

    from analytics_pipeline.stats.build import period_params

    wh = backend.warehouse
    text = sql_text or wh.sql_text("insert_period_stats", table="daily_stats", key_column="date")
    with wh.engine.connect() as conn:
        for name, value in (settings or {}).items():
            conn.exec_driver_sql(f"SET LOCAL {name} = '{value}'")
        conn.execute(sa.text("DELETE FROM daily_stats WHERE date = :d"), {"d": day})
        plan = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + text),
                            {**period_params(wh, "day", day), "computed_at": CLOCK}).scalars().all()
        conn.rollback()
    return "\n".join(plan)


def sql_variants(wh) -> dict[str, tuple[str, dict[str, str]]]:
    """Candidate changes, each (SQL text, session settings), on a copy of the asset's SQL."""
    base = wh.sql_text("insert_period_stats", table="daily_stats", key_column="date")
    # count(DISTINCT) always sorts its input (spilling to disk at the default work_mem);
    # DISTINCT in a subquery can use a hash aggregate instead.
    hashed = base.replace(
        """           count(DISTINCT visitor_id) AS visitors,
           count(DISTINCT session_id) AS sessions
    FROM ev GROUP BY website_id
),""",
        """           max(v.n) AS visitors,
           max(s.n) AS sessions
    FROM ev
    JOIN (SELECT website_id, count(*) AS n FROM (SELECT DISTINCT website_id, visitor_id FROM ev) dv GROUP BY 1) v USING (website_id)
    JOIN (SELECT website_id, count(*) AS n FROM (SELECT DISTINCT website_id, session_id FROM ev) ds GROUP BY 1) s USING (website_id)
    GROUP BY website_id
),""")
    not_materialized = base.replace("WITH ev AS MATERIALIZED (", "WITH ev AS NOT MATERIALIZED (")
    both = hashed.replace("WITH ev AS MATERIALIZED (", "WITH ev AS NOT MATERIALIZED (")
    out = {
        "as is": (base, {}),
        "work_mem = 64MB": (base, {"work_mem": "64MB"}),
        "ev NOT MATERIALIZED": (not_materialized, {}),
        "ev NOT MATERIALIZED + work_mem = 64MB": (not_materialized, {"work_mem": "64MB"}),
        "distinct via GROUP BY (hash)": (hashed, {}),
        "distinct via GROUP BY + NOT MATERIALIZED + work_mem = 64MB": (both, {"work_mem": "64MB"}),
    }
    return {k: v for k, v in out.items() if k == "as is" or v != out["as is"]}


def run_variants(backend: Backend, days: list[date], rounds: int = 3) -> list[tuple[str, float, float | None]]:
    """Each variant on the same few days, interleaved over ``rounds`` (the machine is shared:
    the best round is the least disturbed); wall and server CPU seconds per day."""
    sample = days[len(days) // 2:len(days) // 2 + min(3, len(days))]
    variants = sql_variants(backend.warehouse)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for _ in range(rounds):
        for name, (text, settings) in variants.items():
            seconds = floor(backend, "day", sample, sql_text=text, settings=settings) / len(sample)
            wall[name] = min(wall.get(name, seconds), seconds)
            if LAST_FLOOR_CPU.get("seconds") is not None:
                c = LAST_FLOOR_CPU["seconds"] / len(sample)
                cpu[name] = min(cpu.get(name, c), c)
    print(f"  best of {rounds} interleaved rounds over {len(sample)} day(s); server CPU excludes parallel workers")
    print("  | variant | wall s/day | vs as is | server CPU s/day | vs as is |")
    print("  |---|---:|---:|---:|---:|")
    for name in variants:
        c = cpu.get(name)
        cpu_text = f"{c:.3f} | {c / cpu['as is']:.2f}x" if c is not None and cpu.get("as is") else "- | -"
        print(f"  | {name} | {wall[name]:.3f} | {wall[name] / wall['as is']:.2f}x | {cpu_text} |")
    return [(n, wall[n], cpu.get(n)) for n in variants]


# -- report ----------------------------------------------------------------------------------
def machine_info() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average %.2f %.2f %.2f" % os.getloadavg()
    return f"machine: {os.cpu_count()} cores ({cpu}){load}, Python {platform.python_version()}"


def print_tables(backends: list[Backend], args: argparse.Namespace) -> None:
    print()
    print("| backend | one day pipeline s | one day floor s | 30-day backfill pipeline s | 30-day floor s | ratio |"
          .replace("30-day", f"{args.days}-day"))
    print("|---|---:|---:|---:|---:|---:|")
    for b in backends:
        r = b.results
        print(f"| {b.name} | {r['day_pipeline']:.2f} | {r['day_floor']:.2f} | {r['range_pipeline']:.2f} | "
              f"{r['range_floor']:.2f} | {r['range_pipeline'] / r['range_floor']:.2f} |")
    print()
    print("| backend | one-day ratio | backfill: asset's build loop s | backfill: reconcile check s | "
          "backfill: Dagster run overhead s | ratio without the check | week pipeline s | week floor s | month pipeline s | month floor s |"
          + (" backfill via CLI s |" if args.cli else ""))
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.cli else ""))
    for b in backends:
        r = b.results
        overhead = r["range_pipeline"] - r["range_build"] - r["range_check"]
        week = (f"{r['week_pipeline']:.2f} | {r['week_floor']:.2f}" if "week" in r else "- | -")
        print(f"| {b.name} | {r['day_pipeline'] / r['day_floor']:.2f} | {r['range_build']:.2f} | {r['range_check']:.2f} | "
              f"{overhead:.2f} | {(r['range_pipeline'] - r['range_check']) / r['range_floor']:.2f} | {week} | {r['month_pipeline']:.2f} | {r['month_floor']:.2f} |"
              + (f" {r['range_cli']:.2f} |" if "range_cli" in r else " - |" if args.cli else ""))
    print()
    print("| backend | events | sessions | bulk load s | sessions build s | floor s per day |")
    print("|---|---:|---:|---:|---:|---:|")
    for b in backends:
        print(f"| {b.name} | {b.events:,} | {b.sessions:,} | {b.load_seconds:.1f} | {b.sessions_seconds:.1f} | "
              f"{b.results['range_floor'] / args.days:.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events to generate (default 5,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days they span, from 2024-03-01 (default 30)")
    parser.add_argument("--websites", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cli", action="store_true", help="also time `dagster asset materialize --partition-range`")
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) of one day")
    parser.add_argument("--variants", action="store_true", help="PostgreSQL: time settings and SQL variants")
    parser.add_argument("--skip-measure", action="store_true", help="only load (with --explain/--variants)")
    parser.add_argument("--zones", action="store_true",
                        help="compare the backfill all-UTC with three websites in three zones (only that)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of --zones (default 2)")
    parser.add_argument("--quick", action="store_true", help="150,000 events: a run of under a minute")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 150_000

    workdir = Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    # The code location reads its settings when imported: point it at scratch space, and make
    # the warehouse URL an EnvVar that each run resolves anew (set per backend in pipeline()).
    os.environ["ANALYTICS_DATA_DIR"] = str(workdir / "data")
    os.environ["ANALYTICS_DATABASE_URL"] = f"sqlite:///{workdir / 'unused.db'}"
    os.environ.setdefault("ANALYTICS_START_DATE", "2024-01-01")

    print(machine_info())
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in names:
        why = postgres_unreachable()
        if why:
            print(f"PostgreSQL skipped: {PG_HOST}:5432 unreachable ({why})")
            names.remove("postgresql")
        else:
            import psycopg

            with psycopg.connect(PG_ADMIN_DSN) as conn:
                info = [conn.execute(f"SHOW {s}").fetchone()[0] for s in
                        ("server_version", "shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather")]
            print("PostgreSQL {} (shared_buffers {}, work_mem {}, jit {}, parallel workers/gather {})".format(*info))
    print(f"SQLite {sqlite3.sqlite_version}")

    print(f"jobs from {load_code_location()}")
    from analytics_pipeline.ingestion.validate import normalise_referrer  # noqa: F401 - import before the load

    backends = [Backend(n, fresh_database(n, workdir, "aggregate")) for n in names]
    try:
        prepare(backends, args)
        days = [START_DAY + timedelta(days=i) for i in range(args.days)]
        for b in backends:
            if b.name == "postgresql" and args.explain:
                print(f"\nEXPLAIN (ANALYZE, BUFFERS) insert_period_stats, {days[len(days) // 2]}:")
                print(explain(b, days[len(days) // 2]))
            if b.name == "postgresql" and args.variants:
                print("\nSQL / settings variants (one-day floor, PostgreSQL):")
                run_variants(b, days)
            if args.zones:
                try:
                    compare_zones(b, args, workdir)
                except Exception as exc:  # noqa: BLE001 - keep the other backend's figures
                    print(f"{b.name}: zones comparison failed: {exc!r}")
            elif not args.skip_measure:
                try:
                    measure(b, args, workdir)
                except Exception as exc:  # noqa: BLE001 - keep the other backend's figures
                    print(f"{b.name}: measurement failed: {exc!r}")
        done = [b for b in backends if "range_floor" in b.results and "month_floor" in b.results]
        if done:
            print_tables(done, args)
        zoned = [b for b in backends if "zones" in b.results]
        if zoned:
            print_zones_table(zoned, args)
    finally:
        for b in backends:
            drop_database(b.url)
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

