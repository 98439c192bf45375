"""Ingestion throughput and memory against the floor of a bare bulk load (issue 2, item 9).

    .venv/bin/python benchmarks/ingest.py                 # 1,000,000 events, SQLite and PostgreSQL
    .venv/bin/python benchmarks/ingest.py --events 100000 --backends sqlite
    .venv/bin/python benchmarks/ingest.py --quick         # 200,000 events (under a minute)

For each backend, on a fresh empty database each time:

* **pipeline**: ``ingest_landing`` over JSONL files made by the demo generator (parsing,
  SPEC §2 validation, exactly-once dedup, ledger, rejected lines, moving the files), timed from
  the call to its return; events/s counts every line of the files.
* **floor**: the same rows, validated before the clock starts, loaded bare into the same
  ``events`` table (same indexes): PostgreSQL a plain text ``COPY`` (day partitions created
  beforehand), SQLite a plain ``executemany`` INSERT in transactions of ``--floor-batch`` rows.

Each measurement runs in its own Python process so that its peak memory is its own: peak MB is
the high-water mark of the summed RSS of that process and all its descendants (the parser
workers), sampled from ``/proc`` every 20 ms, or ``getrusage`` where ``/proc`` is missing.
PostgreSQL runs on 127.0.0.1:5432 as user ``postgres`` in a throwaway database that the script
creates and drops; when the server is unreachable the backend is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from collections.abc import Callable
from pathlib import Path

from throwaway import fresh_database, PG_ADMIN_DSN, PG_HOST, drop_database, postgres_unreachable as postgres_available


REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

START_DAY = date(2024, 3, 1)
# Far enough after the generated days that nothing is "in the future", fixed so runs compare.
CLOCK = datetime(2024, 12, 31, tzinfo=timezone.utc)


# -- memory ----------------------------------------------------------------------------------
class PeakRss:
    """High-water mark of the RSS summed over this process and its descendants, and the CPU
    seconds of the descendants (parser workers) and of the given database server processes,
    read from ``/proc`` while they live."""

    def __init__(self, interval: float = 0.02, server_pids: Callable[[], list[int]] | None = None) -> None:
        self.interval = interval
        self.peak = 0
        self.server_pids = server_pids
        self._cpu: dict[int, float] = {}  # descendant pid -> CPU seconds last seen
        self._server_cpu: dict[int, float] = {}
        self._server_start: dict[int, float] = {}
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._proc = Path("/proc/self/statm").exists()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        if self._proc:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._proc:
            self._thread.join()
            self.sample()
        usage = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024
        self.peak = max(self.peak, usage if not self._proc else 0)

    def _children(self, pid: int) -> list[int]:
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def _rss(self, pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return 0

    def _cpu_of(self, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick

    def sample(self) -> None:
        me = os.getpid()
        total, todo = 0, [me]
        while todo:
            pid = todo.pop()
            total += self._rss(pid)
            children = self._children(pid)
            todo.extend(children)
            if pid != me:
                cpu = self._cpu_of(pid)
                if cpu is not None:
                    self._cpu[pid] = cpu
        self.peak = max(self.peak, total)
        if self.server_pids is not None:
            for pid in self.server_pids():
                cpu = self._cpu_of(pid)
                if cpu is not None:
                    self._server_start.setdefault(pid, cpu)
                    self._server_cpu[pid] = cpu

    @property
    def workers_cpu(self) -> float:
        return sum(self._cpu.values())

    @property
    def server_cpu(self) -> float:
        return sum(self._server_cpu[p] - self._server_start[p] for p in self._server_cpu)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


# -- databases -------------------------------------------------------------------------------



def server_pids_of(url: str) -> Callable[[], list[int]] | None:
    """A function listing the PostgreSQL backends serving ``url``'s database (their CPU is the
    server's share of the work), or None for SQLite, which runs inside this process."""
    if url.startswith("sqlite"):
        return None
    import psycopg

    name = url.rsplit("/", 1)[1]
    monitor = psycopg.connect(PG_ADMIN_DSN, autocommit=True)

    def pids() -> list[int]:
        rows = monitor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
        return [r[0] for r in rows]

    return pids


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the two measurements (each in its own process) ------------------------------------------
# A proposed change of the event_keys migration (not applied by the project): the key compared
# bytewise, and a BRIN index for retention's per-day delete instead of a B-tree.
PROPOSED_EVENT_KEYS = (
    'ALTER TABLE event_keys ALTER COLUMN event_id TYPE text COLLATE "C"',
    "DROP INDEX event_keys_occurred_at_idx",
    "CREATE INDEX event_keys_occurred_at_brin ON event_keys USING brin (occurred_at)",
)


def measure_pipeline(url: str, landing: Path, workers: int | None, proposed_keys: bool = False) -> dict:
    from analytics_pipeline.ingestion.run import ingest_landing
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    if proposed_keys and warehouse.is_postgres:
        with warehouse.begin() as conn:
            for statement in PROPOSED_EVENT_KEYS:
                conn.exec_driver_sql(statement)
    with PeakRss(server_pids=server_pids_of(url)) as peak:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = ingest_landing(warehouse, landing, now=lambda: CLOCK, workers=workers)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"lines": result.lines, "loaded": result.loaded, "duplicates": result.duplicates,
            "rejected": result.rejected, "seconds": seconds, "peak_bytes": peak.peak,
            "main_cpu": cpu, "workers_cpu": peak.workers_cpu, "server_cpu": peak.server_cpu}


def _prepared_rows(landing: Path) -> list[tuple]:
    """Every accepted row of the files, validated and deduplicated (first one wins), untimed."""
    from analytics_pipeline.ingestion.prepare import prepare_chunk
    from analytics_pipeline.ingestion.readers import iter_jsonl

    rows: list[tuple] = []
    seen: set[str] = set()
    for path in sorted(landing.iterdir()):
        records = list(iter_jsonl(path))
        for start in range(0, len(records), 100_000):
            chunk = prepare_chunk("jsonl", None, records[start:start + 100_000], CLOCK, "sqlite")
            for row in chunk.rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    rows.append(row)
    return rows


def measure_floor(url: str, landing: Path, batch: int) -> dict:
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    rows = _prepared_rows(landing)
    ingested_at = CLOCK.strftime("%Y-%m-%d %H:%M:%S.%f")
    if warehouse.is_sqlite:
        tail = (ingested_at, "bench.jsonl", 1)
        batches = [[r + tail for r in rows[i:i + batch]] for i in range(0, len(rows), batch)]
        sql = ("INSERT INTO events (event_id, website_id, session_id, visitor_id, event_type, event_name, "
               "url_path, referrer, occurred_at, properties, ingested_at, source_file, batch_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        raw = warehouse.engine.raw_connection()
        try:
            db = raw.driver_connection
            started, cpu = time.perf_counter(), cpu_seconds()
            for part in batches:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(sql, part)
                db.execute("COMMIT")
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            server_cpu = 0.0
        finally:
            raw.close()
    else:
        from analytics_pipeline.ingestion.prepare import _copy_field

        tail = "\t" + ingested_at + "+00\tbench.jsonl\t1\n"
        blocks = [
            "".join("\t".join(map(_copy_field, r)) + tail for r in rows[i:i + batch]).encode()
            for i in range(0, len(rows), batch)
        ]
        days = sorted({r[8][:10] for r in rows})
        with warehouse.begin() as conn:
            for day in days:
                conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})
        copy_sql = ("COPY events (event_id, website_id, session_id, visitor_id, event_type, event_name, "
                    "url_path, referrer, occurred_at, properties, ingested_at, source_file, batch_id) FROM STDIN")
        raw = warehouse.engine.raw_connection()
        try:
            db = raw.driver_connection
            db.commit()
            with PeakRss(server_pids=server_pids_of(url)) as sampler:
                started, cpu = time.perf_counter(), cpu_seconds()
                for block in blocks:
                    with db.transaction(), db.cursor() as cursor, cursor.copy(copy_sql) as copy:
                        for offset in range(0, len(block), 1 << 20):
                            copy.write(block[offset:offset + (1 << 20)])
                seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
            server_cpu = sampler.server_cpu
        finally:
            raw.close()
    return {"lines": len(rows), "seconds": seconds, "main_cpu": cpu, "server_cpu": server_cpu}


def child_main(args: argparse.Namespace) -> int:
    if args.measure == "pipeline":
        out = measure_pipeline(args.url, Path(args.landing), args.workers, args.proposed_keys)
    else:
        out = measure_floor(args.url, Path(args.landing), args.floor_batch)
    print("RESULT " + json.dumps(out))
    return 0


def run_child(measure: str, url: str, landing: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--measure", measure, "--url", url, "--landing", str(landing),
           "--floor-batch", str(args.floor_batch)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if args.proposed_keys:
        cmd += ["--proposed-keys"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{measure} on {url} failed:\n{proc.stdout}\n{proc.stderr}")


# -- driver ----------------------------------------------------------------------------------
def machine_info() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def postgres_version() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def generate(source: Path, args: argparse.Namespace) -> tuple[int, int, int, int, int]:
    from analytics_pipeline.demo.generate import EventGenerator

    generator = EventGenerator(seed=args.seed, websites=3, malformed_rate=args.malformed_rate,
                               duplicate_rate=args.duplicate_rate)
    made = generator.write_days(source, START_DAY, args.days, max(1, args.events // args.days))
    size = sum(p.stat().st_size for p in made.paths)
    return made.lines, made.events, made.duplicates, made.malformed, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--days", type=int, default=1, help="one JSONL file per day (default 1: one big file)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--malformed-rate", type=float, default=0.001)
    parser.add_argument("--duplicate-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: the pipeline's own choice)")
    parser.add_argument("--floor-batch", type=int, default=100_000, help="rows per floor transaction")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--proposed-keys", action="store_true",
                        help="PostgreSQL: measure the pipeline with the proposed event_keys indexes (see PROPOSED_EVENT_KEYS)")
    parser.add_argument("--measure", choices=["pipeline", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="200,000 events: a check that runs in under a minute")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 200_000
    if args.measure:
        return child_main(args)

    print(machine_info())
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends:
        why = postgres_available()
        if why:
            print(f"PostgreSQL skipped: {PG_HOST}:5432 unreachable ({why})")
            backends.remove("postgresql")
        else:
            print(f"PostgreSQL {postgres_version()} on {PG_HOST}:5432 (throwaway databases)")
    import sqlite3

    print(f"SQLite {sqlite3.sqlite_version}")

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        source = work / "source"
        started = time.perf_counter()
        lines, events, duplicates, malformed, size = generate(source, args)
        print(f"generated {lines:,} lines ({events:,} events, {duplicates:,} re-sent duplicates, "
              f"{malformed:,} malformed) in {args.days} JSONL file(s), {size / 1e6:.0f} MB, "
              f"in {time.perf_counter() - started:.0f}s")
        table = []
        for backend in backends:
            landing = work / f"landing-{backend}"
            shutil.copytree(source, landing)
            url = fresh_database(backend, work, "ingest")
            try:
                pipe = run_child("pipeline", url, landing, args)
            finally:
                drop_database(url)
            shutil.rmtree(landing)
            ok = (pipe["loaded"], pipe["duplicates"], pipe["rejected"]) == (events, duplicates, malformed)
            print(f"{backend}: pipeline {pipe['lines']:,} lines in {pipe['seconds']:.2f}s: "
                  f"{pipe['loaded']:,} loaded, {pipe['duplicates']:,} duplicates, {pipe['rejected']:,} rejected"
                  + ("" if ok else "  (MISMATCH with the generator's figures!)"))
            print(f"{backend}: pipeline CPU seconds: loader process {pipe['main_cpu']:.2f}, parser workers "
                  f"{pipe['workers_cpu']:.2f}" + (f", PostgreSQL server {pipe['server_cpu']:.2f}" if backend == "postgresql" else ""))
            floor = None
            if not args.skip_floor:
                url = fresh_database(backend, work, "ingest")
                try:
                    floor = run_child("floor", url, source, args)
                finally:
                    drop_database(url)
                print(f"{backend}: floor {floor['lines']:,} rows in {floor['seconds']:.2f}s; CPU seconds: "
                      f"loader process {floor['main_cpu']:.2f}"
                      + (f", PostgreSQL server {floor['server_cpu']:.2f}" if backend == "postgresql" else ""))
            table.append((backend, pipe, floor))

    print()
    print("| backend | pipeline events/s | floor rows/s | ratio pipeline/floor time | peak MB |")
    print("|---|---:|---:|---:|---:|")
    for backend, pipe, floor in table:
        pipe_rate = pipe["lines"] / pipe["seconds"]
        if floor:
            floor_rate = floor["lines"] / floor["seconds"]
            # Time per event loaded: the pipeline also reads the rejected and duplicate lines.
            ratio = f"{(pipe['seconds'] / pipe['lines']) / (floor['seconds'] / floor['lines']):.2f}"
            floor_text = f"{floor_rate:,.0f}"
        else:
            ratio = floor_text = "-"
        print(f"| {backend} | {pipe_rate:,.0f} | {floor_text} | {ratio} | {pipe['peak_bytes'] / 2**20:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

