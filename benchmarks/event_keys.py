"""PostgreSQL's idempotency keys (``event_keys``): what a time index on them costs ingestion, what
it is worth to retention once retention has run, and what deleting a day's keys costs each way.

    .venv/bin/python benchmarks/event_keys.py               # about three minutes
    .venv/bin/python benchmarks/event_keys.py --keys 100000 --day 100000 --days 5   # smaller

Three measurements, each on a fresh throwaway database (127.0.0.1:5432, user postgres):

1. **Loading keys.** ``--keys`` keys in the demo generator's shape, as binary ``COPY`` in
   transactions of 5,000 rows (as ingestion claims a chunk's keys), into three tables taking
   turns ``--repeat`` times: the heap alone (the floor: no index at all), the table as it is
   (primary key only), and the table as it was until migration 040 (plus a BRIN index on
   ``occurred_at``). Reported: the server process's CPU seconds, best and median.
2. **A BRIN index after retention.** ``--days`` days of ``--day`` keys with the BRIN index; then,
   ``--cycles`` times, one day's keys are deleted by time range through the index (as retention
   did), the table is vacuumed and a new day is loaded. Reported per cycle: the heap pages the
   delete read (``EXPLAIN (ANALYZE)``) against the table's pages.
3. **Deleting one day's keys** from ``--days`` days of ``--day`` keys, with ids that sort by day
   (the demo's) and with random ids (uuid text, as many clients send): through the primary key
   with the day's ids sorted (what retention does now), unsorted, by the hash join the planner
   picks unaided (it reads the whole table), and by a freshly built BRIN index, before any page
   was reused (the best case of the old way; the floor). Each in a transaction rolled back.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from throwaway import drop_database, fresh_database, postgres_unreachable, process_cpu_seconds

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHUNK = 5_000
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
START = datetime(2024, 3, 1, tzinfo=timezone.utc)
TABLES = {
    "heap only (floor)": 'CREATE TABLE k (event_id text COLLATE "C" NOT NULL, occurred_at timestamptz NOT NULL)',
    "primary key (now)": 'CREATE TABLE k (event_id text COLLATE "C" PRIMARY KEY, occurred_at timestamptz NOT NULL)',
    "primary key + BRIN (before 040)": 'CREATE TABLE k (event_id text COLLATE "C" PRIMARY KEY, '
                                       "occurred_at timestamptz NOT NULL); "
                                       "CREATE INDEX k_occurred_at_brin ON k USING brin (occurred_at)",
}


def connect(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def server_cpu(conn) -> float:
    """CPU seconds of the connection's server process so far (``/proc``: same machine)."""
    seconds = process_cpu_seconds(conn.info.backend_pid)
    if seconds is None:
        raise SystemExit("the server's /proc entry is unreadable: run this on the database's machine")
    return seconds


def key_blocks(keys: int) -> list[bytes]:
    """Binary COPY data of ``keys`` keys, ``CHUNK`` to a block: ids as the demo writes them
    (``e-<day hash>-<sequence>``), one event every 0.25 s from ``START``."""
    blocks = []
    header, trailer = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0), struct.pack("!h", -1)
    base = int((START - PG_EPOCH) / timedelta(microseconds=1))
    for first in range(0, keys, CHUNK):
        rows = [header]
        for i in range(first, min(keys, first + CHUNK)):
            event_id = f"e-5f2c9a71d0b3e846-{i:07d}".encode()
            rows.append(struct.pack("!hi", 2, len(event_id)) + event_id + struct.pack("!iq", 8, base + i * 250_000))
        rows.append(trailer)
        blocks.append(b"".join(rows))
    return blocks


def measure_loads(url: str, keys: int, repeat: int) -> dict[str, list[float]]:
    blocks = key_blocks(keys)
    seconds: dict[str, list[float]] = {name: [] for name in TABLES}
    with connect(url) as conn:
        for _ in range(repeat):
            for name, ddl in TABLES.items():
                conn.execute("DROP TABLE IF EXISTS k")
                for statement in ddl.split("; "):
                    conn.execute(statement)
                conn.execute("CHECKPOINT")
                before = server_cpu(conn)
                for block in blocks:
                    with conn.transaction(), conn.cursor().copy("COPY k FROM STDIN WITH (FORMAT binary)") as copy:
                        copy.write(memoryview(block))
                seconds[name].append(server_cpu(conn) - before)
        conn.execute("DROP TABLE k")
    return seconds


def add_day(conn, day: int, per_day: int, random_ids: bool = False) -> None:
    ident = "gen_random_uuid()::text" if random_ids else f"'e-' || md5('{day}') || '-' || lpad(i::text, 8, '0')"
    conn.execute(f"INSERT INTO k SELECT {ident}, timestamptz '2024-03-01 00:00+00' + make_interval(days => {day}) "
                 f"+ i * (interval '1 day' / {per_day}) FROM generate_series(0, {per_day - 1}) AS i")


def day_range(day: int) -> str:
    return (f"occurred_at >= timestamptz '2024-03-01 00:00+00' + make_interval(days => {day}) "
            f"AND occurred_at < timestamptz '2024-03-01 00:00+00' + make_interval(days => {day + 1})")


def pages_read(plan: list[str]) -> int | None:
    """Heap pages a delete read, from EXPLAIN (ANALYZE, BUFFERS): the bitmap's heap blocks, or
    the table's pages for a sequential scan (None when neither is shown)."""
    for line in plan:
        if "Heap Blocks:" in line:
            return sum(int(part.split("=")[1]) for part in line.split(":", 1)[1].split())
    return None


def measure_brin_decay(url: str, days: int, per_day: int, cycles: int) -> list[tuple[int, int, int, float]]:
    """(cycle, pages read, table pages, seconds) for each cycle of delete, vacuum, load."""
    out = []
    with connect(url) as conn:
        conn.execute(TABLES["primary key + BRIN (before 040)"].split("; ")[0])
        conn.execute(TABLES["primary key + BRIN (before 040)"].split("; ")[1])
        for day in range(days):
            add_day(conn, day, per_day)
        conn.execute("VACUUM ANALYZE k")
        for cycle in range(cycles):
            table_pages = conn.execute("SELECT pg_relation_size('k') / 8192").fetchone()[0]
            conn.execute("SET enable_seqscan = off")  # the index's own reach, whatever the planner prefers
            started = time.perf_counter()
            plan = [r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) DELETE FROM k WHERE {day_range(cycle)}")]
            seconds = time.perf_counter() - started
            conn.execute("RESET enable_seqscan")
            out.append((cycle + 1, pages_read(plan) or table_pages, table_pages, seconds))
            conn.execute("VACUUM ANALYZE k")
            add_day(conn, days + cycle, per_day)
        conn.execute("DROP TABLE k")
    return out


DELETES = {
    "primary key, day's ids sorted (now)": (
        "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
        'DELETE FROM k USING (SELECT event_id COLLATE "C" AS event_id FROM day ORDER BY 1) AS d '
        "WHERE k.event_id = d.event_id"),
    "primary key, unsorted": (
        "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
        "DELETE FROM k USING day AS d WHERE k.event_id = d.event_id"),
    "hash join (the planner unaided)": (
        "SELECT set_config('enable_nestloop', 'off', true), set_config('enable_mergejoin', 'off', true)",
        "DELETE FROM k USING day AS d WHERE k.event_id = d.event_id"),
    "fresh BRIN range (floor)": ("SELECT set_config('enable_seqscan', 'off', true)", "DELETE FROM k WHERE {range}"),
}


def measure_deletes(url: str, days: int, per_day: int, random_ids: bool) -> dict[str, tuple[float, int]]:
    out = {}
    with connect(url) as conn:
        conn.execute(TABLES["primary key (now)"])
        for day in range(days):
            add_day(conn, day, per_day, random_ids)
        conn.execute(f"CREATE TABLE day AS SELECT event_id, occurred_at FROM k WHERE {day_range(0)}")
        conn.execute("CREATE INDEX k_occurred_at_brin ON k USING brin (occurred_at)")
        conn.execute("VACUUM ANALYZE k")
        conn.execute("VACUUM ANALYZE day")
        for name, (setting, sql) in DELETES.items():
            with conn.transaction(force_rollback=True):
                conn.execute(setting)
                if "BRIN" not in name:
                    conn.execute("DROP INDEX k_occurred_at_brin")  # as now: no time index
                started = time.perf_counter()
                deleted = conn.execute(sql.format(range=day_range(0))).rowcount
                out[name] = (time.perf_counter() - started, deleted)
        conn.execute("DROP TABLE k, day")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=300_000, help="keys per load (default 300,000: the ingest mix)")
    parser.add_argument("--repeat", type=int, default=5, help="loads of each table (default 5)")
    parser.add_argument("--days", type=int, default=10, help="days in the table (default 10)")
    parser.add_argument("--day", type=int, default=200_000, help="keys a day (default 200,000)")
    parser.add_argument("--cycles", type=int, default=12, help="retention cycles for the BRIN decay (default 12)")
    args = parser.parse_args(argv)
    why = postgres_unreachable()
    if why:
        print(f"PostgreSQL unreachable: {why}")
        return 1
    import tempfile

    url = fresh_database("postgresql", Path(tempfile.gettempdir()), "keys")
    try:
        with connect(url) as conn:
            print(conn.execute("SELECT version()").fetchone()[0].split(" on ")[0])
        loads = measure_loads(url, args.keys, args.repeat)
        floor = min(loads["heap only (floor)"])
        print(f"\n1. Loading {args.keys:,} keys in transactions of {CHUNK:,} (server CPU seconds, {args.repeat} runs each, in turns)")
        print("| table | best | median | best / floor | runs |\n|---|---:|---:|---:|---|")
        for name, runs in loads.items():
            print(f"| {name} | {min(runs):.2f} | {statistics.median(runs):.2f} | {min(runs) / floor:.2f} | "
                  + " ".join(f"{r:.2f}" for r in runs) + " |")

        decay = measure_brin_decay(url, args.days, args.day, args.cycles)
        print(f"\n2. Deleting a day's keys by time range through a BRIN index, then vacuum and a new day "
              f"({args.days} days of {args.day:,} keys)")
        print("| cycle | heap pages read | table pages | share | seconds |\n|---:|---:|---:|---:|---:|")
        for cycle, read, pages, seconds in decay:
            print(f"| {cycle} | {read:,} | {pages:,} | {read / pages:.0%} | {seconds:.2f} |")

        print(f"\n3. Deleting one day of {args.day:,} keys from {args.days} days (seconds, rolled back)")
        print("| method | ids that sort by day | random ids |\n|---|---:|---:|")
        ordered = measure_deletes(url, args.days, args.day, random_ids=False)
        randomised = measure_deletes(url, args.days, args.day, random_ids=True)
        for name in DELETES:
            (a, na), (b, nb) = ordered[name], randomised[name]
            assert na == nb == args.day, (name, na, nb)
            print(f"| {name} | {a:.2f} | {b:.2f} |")
    finally:
        drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
