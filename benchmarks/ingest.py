"""Ingestion throughput and memory against the floor of a bare bulk load.

    .venv/bin/python benchmarks/ingest.py                 # the realistic mix: 300,000 events
    .venv/bin/python benchmarks/ingest.py --events 1000000 --mix jsonl   # one big JSONL file
    .venv/bin/python benchmarks/ingest.py --events 100000 --backends sqlite
    .venv/bin/python benchmarks/ingest.py --quick         # 100,000 events of the mix (a check)

The files (``--mix realistic``, the default): six days of the demo generator's events, one file
a day, as plain JSONL, gzip JSONL, CSV, plain JSONL, gzip CSV and gzip JSONL, with 0.03% of the
lines malformed (each rejected with its reason) and 0.03% re-sent duplicates. ``--mix jsonl``
writes ``--days`` plain JSONL files instead.

For each backend, on a fresh empty database each time:

* **pipeline**: ``ingest_landing`` over those files (hashing, reading, parsing, SPEC §2
  validation, exactly-once dedup, ledger, rejected lines, moving the files), timed from the
  call to its return; events/s counts every line of the files. Its CPU seconds are printed
  per stage (hashing, reading, parsing and validation, loading: ``IngestResult.stage_cpu``)
  and for the database server; the parsing/validation split is measured alone on the same
  records (parsing = decoding each record's JSON or CSV cells into values).
* **floor**: the same rows, validated before the clock starts, loaded bare into the same
  ``events`` table (same indexes): PostgreSQL a plain text ``COPY`` (day partitions created
  beforehand), SQLite a plain ``executemany`` INSERT in transactions of ``--floor-batch`` rows.
  PostgreSQL's floor is also measured with the rows' ``event_keys`` (the idempotency key the
  pipeline must keep) and in binary ``COPY`` (the pipeline's own format), SQLite's by the
  pipeline's own method (the rows bound into in-memory database images, then one
  ``INSERT ... SELECT`` each, all on one thread), with ratios to each.

Each is run ``--repeat`` times (default 5; pipeline and floor take turns, so both see the
machine's other load alike) and the best run of each is reported, with every run's seconds
and the ratio within each turn (a pipeline run against the floor run right after it) and their
median: a second view of the ratio that one lucky run of either side sways less.
(Five, not three, since 2026-12-01: on a shared 2-core machine a single run of either moved by
up to 40 % that day, and the pipeline, which keeps both cores busy, more than the floor.)
Each measurement runs in its own Python process so that its peak memory is its own: peak MB is
the high-water mark of the summed RSS of that process and all its descendants (the parser
workers), sampled from ``/proc`` every 20 ms, or ``getrusage`` where ``/proc`` is missing.
PostgreSQL runs on 127.0.0.1:5432 as user ``postgres`` in a throwaway database that the script
creates and drops; when the server is unreachable the backend is skipped with a message.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from collections.abc import Callable
from pathlib import Path

from throwaway import (fresh_database, PG_ADMIN_DSN, PG_HOST, drop_database, postgres_unreachable as postgres_available,
                       process_cpu_seconds)


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
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._proc = Path("/proc/self/statm").exists()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._samples = 0

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


    def sample(self) -> None:
        me = os.getpid()
        total, todo = 0, [me]
        while todo:
            pid = todo.pop()
            total += self._rss(pid)
            children = self._children(pid)
            todo.extend(children)
            if pid != me:
                cpu = process_cpu_seconds(pid)
                if cpu is not None:
                    self._cpu[pid] = cpu
        self.peak = max(self.peak, total)
        self._samples += 1
        # The server's backends are listed by a query: every 10th sample only (each query is
        # work for the server being measured), and at the end.
        if self.server_pids is not None and (self._samples % 10 == 1 or self._stop.is_set()):
            for pid in self.server_pids():
                cpu = process_cpu_seconds(pid)
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
def measure_pipeline(url: str, landing: Path, workers: int | None) -> dict:
    from analytics_pipeline.ingestion.run import ingest_landing
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    with PeakRss(server_pids=server_pids_of(url)) as peak:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = ingest_landing(warehouse, landing, now=lambda: CLOCK, workers=workers)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"lines": result.lines, "loaded": result.loaded, "duplicates": result.duplicates,
            "rejected": result.rejected, "seconds": seconds, "peak_bytes": peak.peak,
            "main_cpu": cpu, "workers_cpu": peak.workers_cpu, "server_cpu": peak.server_cpu,
            "stage_cpu": dict(result.stage_cpu)}


def measure_split(landing: Path) -> dict:
    """CPU seconds of parsing alone and of parsing plus validation (``prepare_chunk``) on the
    same records, read beforehand. Parsing: with the compiled fast path, its parsing half alone
    (``_fastpath.parse_only``: JSON scanned, properties made canonical, CSV cells made UTF-8);
    without it, each record's JSON decoded or its CSV cells made values."""
    import orjson

    from analytics_pipeline.ingestion.prepare import _csv_object, compiled, prepare_chunk

    parse = prepare = 0.0
    for path in sorted(landing.iterdir()):
        kind, header, records = _records(path)
        started = time.process_time()
        if compiled is not None:
            compiled.parse_only(records)
        else:
            for _, payload in records:
                if kind == "csv":
                    _csv_object(header or [], payload)
                    continue
                try:
                    orjson.loads(payload)
                except orjson.JSONDecodeError:
                    pass
        parse += time.process_time() - started
        started = time.process_time()
        for start in range(0, len(records), 100_000):
            prepare_chunk(kind, header, records[start:start + 100_000], CLOCK, "postgresql")
        prepare += time.process_time() - started
    return {"parsing": parse, "validation": max(0.0, prepare - parse)}


def _records(path: Path) -> tuple[str, list[str] | None, list]:
    """(kind, CSV header, records) of one landing file, as ingestion reads it."""
    from analytics_pipeline.ingestion.readers import file_kind, iter_csv, iter_jsonl

    kind = file_kind(path)
    if kind == "csv":
        header, records = iter_csv(path)
        return kind, header, list(records)
    return "jsonl", None, list(iter_jsonl(path))


def _prepared_rows(landing: Path) -> list[tuple]:
    """Every accepted row of the files, validated and deduplicated (first one wins), untimed,
    each with the name of its file (the rows' source_file, as the pipeline stores it) last."""
    from analytics_pipeline.ingestion.prepare import prepare_chunk

    rows: list[tuple] = []
    seen: set[str] = set()
    for path in sorted(landing.iterdir()):
        kind, header, records = _records(path)
        for start in range(0, len(records), 100_000):
            chunk = prepare_chunk(kind, header, records[start:start + 100_000], CLOCK, "sqlite")
            for row in chunk.rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    rows.append(row + (path.name,))
    return rows


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: str | None) -> str:
    """One value as COPY text (the floor's format)."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _sqlite_image_floor(url: str, rows: list[tuple], batch: int, ingested_at: str) -> tuple[float, float]:
    """The same rows by the pipeline's own method, on one thread: bound into database images
    (``sqlite_image``: a parser process's work in the pipeline), then one ``INSERT ... SELECT``
    per image into a second empty warehouse. (seconds binding, seconds inserting)"""
    from analytics_pipeline.ingestion.load import IMAGE_SCHEMA
    from analytics_pipeline.ingestion.prepare import sqlite_image
    from analytics_pipeline.warehouse import Warehouse

    own_url = url.removesuffix(".db") + "-own.db"
    warehouse = Warehouse(own_url)
    parts = []  # (source file, rows) of at most ``batch`` rows, never across files
    for name, group in itertools.groupby(rows, key=lambda r: r[10]):
        group = [r[:10] for r in group]
        parts += [(name, group[i:i + batch]) for i in range(0, len(group), batch)]
    started = time.perf_counter()
    images = [(name, sqlite_image(part), len(part)) for name, part in parts]
    image_seconds = time.perf_counter() - started
    raw = warehouse.engine.raw_connection()
    try:
        db = raw.driver_connection
        db.execute(f"ATTACH ':memory:' AS {IMAGE_SCHEMA}")
        sql = warehouse.sql_text("insert_events_from_chunk")
        started = time.perf_counter()
        for name, image, count in images:
            db.execute("BEGIN IMMEDIATE")
            db.deserialize(image, name=IMAGE_SCHEMA)
            db.execute(sql, {"ingested_at": ingested_at, "source_file": name, "batch_id": 1,
                             "first_row": 0, "last_row": count})
            db.execute("COMMIT")
        insert_seconds = time.perf_counter() - started
    finally:
        raw.close()
        drop_database(own_url)
    return image_seconds, insert_seconds


def measure_floor(url: str, landing: Path, batch: int) -> dict:
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    rows = _prepared_rows(landing)
    ingested_at = CLOCK.strftime("%Y-%m-%d %H:%M:%S.%f")
    if warehouse.is_sqlite:
        batches = [[r[:10] + (ingested_at, r[10], 1) for r in rows[i:i + batch]] for i in range(0, len(rows), batch)]
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
        image_seconds, image_insert_seconds = _sqlite_image_floor(url, rows, batch, ingested_at)
        return {"lines": len(rows), "seconds": seconds, "main_cpu": cpu, "server_cpu": server_cpu,
                "image_seconds": image_seconds, "image_insert_seconds": image_insert_seconds}
    else:
        from analytics_pipeline.ingestion.prepare import binary_key, binary_row, binary_tail, copy_stream

        blocks = [
            "".join("\t".join(map(_copy_field, r[:10])) + f"\t{ingested_at}+00\t{_copy_field(r[10])}\t1\n"
                    for r in rows[i:i + batch]).encode()
            for i in range(0, len(rows), batch)
        ]
        days = sorted({r[8][:10] for r in rows})
        with warehouse.begin() as conn:
            for day in days:
                conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})
        columns = ("events (event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, "
                   "referrer, occurred_at, properties, ingested_at, source_file, batch_id)")
        # The same rows in the pipeline's own format (binary COPY), for comparison.
        binary_blocks = [copy_stream(b"".join(binary_row(r[:10]) + binary_tail(CLOCK, r[10], 1)
                                              for r in rows[i:i + batch]), 13, b"", 0, -1)[0]
                         for i in range(0, len(rows), batch)]
        raw = warehouse.engine.raw_connection()
        try:
            db = raw.driver_connection
            db.commit()

            def load(sql: str, parts: list[bytes]) -> float:
                started = time.perf_counter()
                for block in parts:
                    with db.transaction(), db.cursor() as cursor, cursor.copy(sql) as copy:
                        for offset in range(0, len(block), 1 << 20):
                            copy.write(block[offset:offset + (1 << 20)])
                return time.perf_counter() - started

            with PeakRss(server_pids=server_pids_of(url)) as sampler:
                cpu = cpu_seconds()
                seconds = load(f"COPY {columns} FROM STDIN", blocks)
                cpu = cpu_seconds() - cpu
            server_cpu = sampler.server_cpu
            db.execute("TRUNCATE events")
            db.commit()
            binary_seconds = load(f"COPY {columns} FROM STDIN WITH (FORMAT binary)", binary_blocks)
            # The same rows' idempotency keys (event_keys: what keeps an event_id unique across
            # day partitions), loaded bare the same ways, after the rows, into the empty table.
            key_blocks = [
                "".join(_copy_field(r[0]) + "\t" + r[8] + "+00\n" for r in rows[i:i + batch]).encode()
                for i in range(0, len(rows), batch)
            ]
            binary_keys = [copy_stream(b"".join(binary_key(r[0], r[8]) for r in rows[i:i + batch]), 2, b"", 0, -1)[0]
                           for i in range(0, len(rows), batch)]
            keys_seconds = load("COPY event_keys (event_id, occurred_at) FROM STDIN", key_blocks)
            db.execute("TRUNCATE event_keys")
            db.commit()
            binary_keys_seconds = load("COPY event_keys (event_id, occurred_at) FROM STDIN WITH (FORMAT binary)",
                                       binary_keys)
        finally:
            raw.close()
        return {"lines": len(rows), "seconds": seconds, "main_cpu": cpu, "server_cpu": server_cpu,
                "keys_seconds": keys_seconds, "binary_seconds": binary_seconds,
                "binary_keys_seconds": binary_keys_seconds}


def child_main(args: argparse.Namespace) -> int:
    if args.measure == "pipeline":
        out = measure_pipeline(args.url, Path(args.landing), args.workers)
    elif args.measure == "split":
        out = measure_split(Path(args.landing))
    else:
        out = measure_floor(args.url, Path(args.landing), args.floor_batch)
    print("RESULT " + json.dumps(out))
    return 0


def run_child(measure: str, url: str, landing: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--measure", measure, "--url", url, "--landing", str(landing),
           "--floor-batch", str(args.floor_batch)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
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


CSV_COLUMNS = ("event_id", "website_id", "session_id", "visitor_id", "event_type", "event_name",
               "url_path", "referrer", "occurred_at", "properties")
# The realistic mix: one file a day in these formats, in turn.
MIX = (".jsonl", ".jsonl.gz", ".csv", ".jsonl", ".csv.gz", ".jsonl.gz")


def _csv_cells(event: dict) -> list[str]:
    import orjson

    cells = []
    for column in CSV_COLUMNS:
        value = event.get(column)
        if value is None:
            cells.append("")
        elif column == "properties":
            cells.append(orjson.dumps(value).decode())
        else:
            cells.append(str(value))
    return cells


def _malformed_csv(event: dict, rng) -> list[str]:
    """A CSV record that breaks one rule (as the generator's malformed JSON lines do)."""
    broken = dict(event)
    kind = rng.randrange(4)
    if kind == 0:
        broken["session_id"] = None
    elif kind == 1:
        broken["occurred_at"] = broken["occurred_at"].rstrip("Z")
    elif kind == 2:
        broken["event_type"] = "click"
    else:
        broken["event_type"], broken["url_path"] = "pageview", "no-leading-slash"
    return _csv_cells(broken)


def write_mix(source: Path, args: argparse.Namespace) -> tuple[int, int, int, list[Path]]:
    """The realistic mix (see the module docstring): (events, duplicates, malformed, paths)."""
    import csv
    import gzip
    import io
    from datetime import timedelta

    import orjson

    from analytics_pipeline.demo.generate import EventGenerator

    generator = EventGenerator(seed=args.seed, websites=3, malformed_rate=args.malformed_rate,
                               duplicate_rate=args.duplicate_rate)
    rng = generator.rng
    source.mkdir(parents=True, exist_ok=True)
    days = len(MIX)
    per_day = max(1, args.events // days)
    events = duplicates = malformed = 0
    paths = []
    for offset, suffix in enumerate(MIX):
        day = START_DAY + timedelta(days=offset)
        path = source / f"events-{day.isoformat()}{suffix}"
        is_csv = ".csv" in suffix
        out = io.BytesIO()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="") if is_csv else None
        writer = csv.writer(text) if text is not None else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        for session in generator.sessions_for_day(day, per_day):
            for event in session:
                r = rng.random()
                if r < args.malformed_rate:
                    malformed += 1
                    if writer is not None:
                        writer.writerow(_malformed_csv(event, rng))
                    else:
                        out.write(generator.malformed_line(event) + b"\n")
                    continue
                events += 1
                copies = 2 if r > 1 - args.duplicate_rate else 1
                duplicates += copies - 1
                for _ in range(copies):
                    if writer is not None:
                        writer.writerow(_csv_cells(event))
                    else:
                        out.write(orjson.dumps(event) + b"\n")
        if text is not None:
            text.flush()
        data = out.getvalue()
        path.write_bytes(gzip.compress(data, 6) if suffix.endswith(".gz") else data)
        paths.append(path)
    return events, duplicates, malformed, paths


def generate(source: Path, args: argparse.Namespace) -> tuple[int, int, int, int, int, str]:
    """Write the files; (lines, events, duplicates, malformed, bytes, description)."""
    if args.mix == "realistic":
        events, duplicates, malformed, paths = write_mix(source, args)
        what = "6 files (2 JSONL, 2 gzip JSONL, 1 CSV, 1 gzip CSV)"
    else:
        from analytics_pipeline.demo.generate import EventGenerator

        generator = EventGenerator(seed=args.seed, websites=3, malformed_rate=args.malformed_rate,
                                   duplicate_rate=args.duplicate_rate)
        made = generator.write_days(source, START_DAY, args.days, max(1, args.events // args.days))
        events, duplicates, malformed, paths = made.events, made.duplicates, made.malformed, made.paths
        what = f"{args.days} JSONL file(s)"
    size = sum(p.stat().st_size for p in paths)
    return events + duplicates + malformed, events, duplicates, malformed, size, what


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events to generate (default 300,000)")
    parser.add_argument("--mix", choices=["realistic", "jsonl"], default="realistic",
                        help="realistic: JSONL, CSV and gzip files (default); jsonl: --days plain JSONL files")
    parser.add_argument("--days", type=int, default=1, help="--mix jsonl: one JSONL file per day (default 1: one big file)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--malformed-rate", type=float, default=0.0003)
    parser.add_argument("--duplicate-rate", type=float, default=0.0003)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: the pipeline's own choice)")
    parser.add_argument("--floor-batch", type=int, default=100_000, help="rows per floor transaction")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs of the pipeline and of the floor per backend; the best of each is reported (default 5)")
    parser.add_argument("--measure", choices=["pipeline", "floor", "split"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="100,000 events: a check that runs in under a minute")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeat = 100_000, 1
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
        lines, events, duplicates, malformed, size, what = generate(source, args)
        print(f"generated {lines:,} lines ({events:,} events, {duplicates:,} re-sent duplicates, "
              f"{malformed:,} malformed) in {what}, {size / 1e6:.0f} MB, "
              f"in {time.perf_counter() - started:.0f}s")
        split = run_child("split", "none", source, args)
        table = []
        for backend in backends:
            landing = work / f"landing-{backend}"
            # Best of --repeat (each on a fresh database and fresh copies of the files),
            # pipeline and floor taking turns, so both see the machine's load alike.
            pipes, floors = [], []
            for _ in range(args.repeat):
                shutil.rmtree(landing, ignore_errors=True)
                shutil.copytree(source, landing)
                url = fresh_database(backend, work, "ingest")
                try:
                    pipes.append(run_child("pipeline", url, landing, args))
                finally:
                    drop_database(url)
                if not args.skip_floor:
                    url = fresh_database(backend, work, "ingest")
                    try:
                        floors.append(run_child("floor", url, source, args))
                    finally:
                        drop_database(url)
            shutil.rmtree(landing)
            pipe = min(pipes, key=lambda r: r["seconds"])
            if args.repeat > 1:
                print(f"{backend}: pipeline seconds of the {args.repeat} runs: "
                      + ", ".join(f"{r['seconds']:.2f}" for r in pipes)
                      + ("; floor: " + ", ".join(f"{r['seconds']:.2f}" for r in floors) if floors else ""))
                if floors:
                    # Each turn's pipeline run against the floor run beside it: a second view of
                    # the ratio, less swayed than the ratio of bests by one lucky run of either.
                    turns = [(p["seconds"] / p["lines"]) / (f["seconds"] / f["lines"]) for p, f in zip(pipes, floors)]
                    print(f"{backend}: ratio in each turn (pipeline run / the floor run after it): "
                          + ", ".join(f"{r:.2f}" for r in turns) + f"; median {statistics.median(turns):.2f}")
            ok = (pipe["loaded"], pipe["duplicates"], pipe["rejected"]) == (events, duplicates, malformed)
            print(f"{backend}: pipeline {pipe['lines']:,} lines in {pipe['seconds']:.2f}s: "
                  f"{pipe['loaded']:,} loaded, {pipe['duplicates']:,} duplicates, {pipe['rejected']:,} rejected"
                  + ("" if ok else "  (MISMATCH with the generator's figures!)"))
            print(f"{backend}: pipeline CPU seconds: loader process {pipe['main_cpu']:.2f}, parser workers "
                  f"{pipe['workers_cpu']:.2f}" + (f", PostgreSQL server {pipe['server_cpu']:.2f}" if backend == "postgresql" else ""))
            stages = pipe["stage_cpu"]
            print(f"{backend}: pipeline CPU seconds by stage: " + ", ".join(
                f"{stage} {stages.get(stage, 0.0):.2f}" for stage in ("hashing", "reading", "parsing and validation", "loading"))
                + (f", server {pipe['server_cpu']:.2f}" if backend == "postgresql" else " (server: inside loading)"))
            floor = min(floors, key=lambda r: r["seconds"]) if floors else None
            if floor is not None:
                print(f"{backend}: floor {floor['lines']:,} rows in {floor['seconds']:.2f}s; CPU seconds: "
                      f"loader process {floor['main_cpu']:.2f}"
                      + (f", PostgreSQL server {floor['server_cpu']:.2f}" if backend == "postgresql" else ""))
                if "keys_seconds" in floor:
                    keyed = min(floors, key=lambda r: r["seconds"] + r["keys_seconds"])
                    print(f"{backend}: floor with idempotency keys (the rows, then their event_keys): "
                          f"{keyed['seconds'] + keyed['keys_seconds']:.2f}s "
                          f"({keyed['seconds']:.2f} + {keyed['keys_seconds']:.2f}); "
                          "keys runs: " + ", ".join(f"{r['keys_seconds']:.2f}" for r in floors))
                if "image_seconds" in floor:
                    own = min(floors, key=lambda r: r["image_seconds"] + r["image_insert_seconds"])
                    print(f"{backend}: floor by the pipeline's own method (rows bound into in-memory database "
                          f"images, then one INSERT ... SELECT each), on one thread: "
                          f"{own['image_seconds'] + own['image_insert_seconds']:.2f}s "
                          f"({own['image_seconds']:.2f} binding + {own['image_insert_seconds']:.2f} inserting)")
                if "binary_seconds" in floor:
                    fast = min(floors, key=lambda r: r["binary_seconds"])
                    fast_keyed = min(floors, key=lambda r: r["binary_seconds"] + r["binary_keys_seconds"])
                    print(f"{backend}: floor in binary COPY (the pipeline's own format): rows "
                          f"{fast['binary_seconds']:.2f}s, with keys "
                          f"{fast_keyed['binary_seconds'] + fast_keyed['binary_keys_seconds']:.2f}s")
            pipe["floors"] = floors
            table.append((backend, pipe, floor))

    print()
    print("CPU seconds by stage (parsing and validation split as measured alone: "
          f"parsing {split['parsing']:.2f}, validation {split['validation']:.2f})")
    print("| backend | hashing | reading | parsing | validation | loading | server | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend, pipe, _ in table:
        stages = pipe["stage_cpu"]
        both = stages.get("parsing and validation", 0.0)
        share = split["parsing"] / (split["parsing"] + split["validation"]) if split["parsing"] + split["validation"] else 0.0
        server = f"{pipe['server_cpu']:.2f}" if backend == "postgresql" else "in loading"
        print(f"| {backend} | {stages.get('hashing', 0.0):.2f} | {stages.get('reading', 0.0):.2f} | "
              f"{both * share:.2f} | {both * (1 - share):.2f} | {stages.get('loading', 0.0):.2f} | {server} | "
              f"{pipe['seconds']:.2f} |")
    print()
    print("| backend | pipeline events/s | floor rows/s | ratio pipeline/floor time | "
          "ratio to floor with keys | ratio to the floor in the pipeline's own method | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for backend, pipe, floor in table:
        pipe_rate = pipe["lines"] / pipe["seconds"]
        keyed = binary = "-"
        if floor:
            floor_rate = floor["lines"] / floor["seconds"]
            # Time per event loaded: the pipeline also reads the rejected and duplicate lines.
            per_line = pipe["seconds"] / pipe["lines"]
            ratio = f"{per_line / (floor['seconds'] / floor['lines']):.2f}"
            floor_text = f"{floor_rate:,.0f}"
            if "keys_seconds" in floor:
                best = min((r for r in pipe.get("floors", [floor])), key=lambda r: r["seconds"] + r["keys_seconds"])
                keyed = f"{per_line / ((best['seconds'] + best['keys_seconds']) / best['lines']):.2f}"
            if "binary_seconds" in floor:
                floors = pipe.get("floors", [floor])
                rows_only = min(floors, key=lambda r: r["binary_seconds"])
                with_keys = min(floors, key=lambda r: r["binary_seconds"] + r["binary_keys_seconds"])
                binary = (f"binary COPY: {per_line / (rows_only['binary_seconds'] / rows_only['lines']):.2f}, "
                          f"with keys {per_line / ((with_keys['binary_seconds'] + with_keys['binary_keys_seconds']) / with_keys['lines']):.2f}")
            if "image_seconds" in floor:
                own = min(pipe.get("floors", [floor]), key=lambda r: r["image_seconds"] + r["image_insert_seconds"])
                binary = f"images: {per_line / ((own['image_seconds'] + own['image_insert_seconds']) / own['lines']):.2f}"
        else:
            ratio = floor_text = "-"
        print(f"| {backend} | {pipe_rate:,.0f} | {floor_text} | {ratio} | {keyed} | {binary} | "
              f"{pipe['peak_bytes'] / 2**20:,.0f} |")
    print("(SQLite's floor already holds its idempotency key: the unique index on events.event_id.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

