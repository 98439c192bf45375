"""The serving API over HTTP: requests/s and p50 / p99 latency at several concurrencies.

    .venv/bin/python benchmarks/api.py                      # 5,000,000 events over 90 days, SQLite + embedded cache
    .venv/bin/python benchmarks/api.py --quick              # 90,000 events, 300 requests a level (under a minute)
    .venv/bin/python benchmarks/api.py --backend postgresql --redis-url redis://127.0.0.1:6379/15

A fresh warehouse (SQLite file in a temp dir, or a throwaway PostgreSQL database) gets demo
events for 3 websites over 90 full days before today, ingested, sessionised and aggregated into
daily statistics, and the cache is warmed (``warm_all``); none of this is timed. The app then
runs in its own process (uvicorn, one worker, ``analytics-pipeline serve``'s settings) and this
process is the client: an asyncio HTTP/1.1 client with one keep-alive connection per concurrent
user, each sending its next request when the previous answer has arrived. Rows, in one run:

* **floor**: ``GET /api/v1/ping``, a constant answer behind the same key check and middleware;
* **warm summary**: the warmed 30-day ``/api/analytics/summary`` (a cache hit);
* **dashboard**: ``/api/v1/dashboard?timeframe=30d`` (its 60-s entry, after the first request);
* **uncached 90-day summary**: every request a range never asked before (90 whole days plus
  ``i`` seconds of the next day), so each one is computed: statistics for the whole days, the
  visitor index for distinct visitors, events for the partial day, then stored for 60 s. The
  very first such request also builds the visitor index and is reported on its own.

Each answer is checked (status 200; the uncached summary must equal the raw events' answer).
The machine's load is printed with the table: on a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.throwaway import drop_database, fresh_database  # noqa: E402

KEY = "benchmark-key-0123456789"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def prepare(url: str, landing: Path, days: int, websites: int, per_day: int, redis_url: str) -> dict:
    from analytics_pipeline.cache.backends import EmbeddedCache, RedisCache
    from analytics_pipeline.cache.warm import clear_all, warm_all
    from analytics_pipeline.demo.generate import EventGenerator
    from analytics_pipeline.ingestion.run import ingest_landing
    from analytics_pipeline.sessions.build import update_sessions
    from analytics_pipeline.stats.build import build_period
    from analytics_pipeline.warehouse import Warehouse

    started = time.perf_counter()
    warehouse = Warehouse(url)
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=days)
    EventGenerator(seed=11, websites=websites, malformed_rate=0.0, duplicate_rate=0.0).write_days(
        landing, first, days, per_day)
    loaded = ingest_landing(warehouse, landing).loaded
    print(f"  ingested {loaded:,} events ({time.perf_counter() - started:.0f}s)", flush=True)
    update_sessions(warehouse, timeout_minutes=30)
    for offset in range(days):
        build_period(warehouse, "day", first + timedelta(days=offset))
    print(f"  sessions and daily statistics ({time.perf_counter() - started:.0f}s)", flush=True)
    cache = RedisCache(redis_url) if redis_url else EmbeddedCache(warehouse)
    clear_all(cache)
    warm_all(warehouse, cache)
    return {"events": loaded, "first": first, "today": today, "seconds": time.perf_counter() - started}


def reuse(url: str, days: int, redis_url: str) -> dict:
    """A warehouse prepared earlier today by :func:`prepare`: warm the cache again."""
    from analytics_pipeline.cache.backends import EmbeddedCache, RedisCache
    from analytics_pipeline.cache.warm import clear_all, warm_all
    from analytics_pipeline.warehouse import Warehouse

    warehouse = Warehouse(url)
    cache = RedisCache(redis_url) if redis_url else EmbeddedCache(warehouse)
    clear_all(cache)
    warm_all(warehouse, cache)
    events = int(warehouse.query("select_cache_raw_summary_totals", {
        "from": warehouse.ts(datetime(2000, 1, 1, tzinfo=timezone.utc)),
        "to": warehouse.ts(datetime(2100, 1, 1, tzinfo=timezone.utc))})[0]["total_events"])
    today = datetime.now(timezone.utc).date()
    return {"events": events, "first": today - timedelta(days=days), "today": today, "seconds": 0.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(url: str, redis_url: str, port: int, workdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({"ANALYTICS_DATABASE_URL": url, "ANALYTICS_REDIS_URL": redis_url, "ANALYTICS_DATA_DIR": str(workdir),
                "ANALYTICS_API_KEYS": f"{KEY}=*", "ANALYTICS_API_RATE_LIMIT": "1000000000"})
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "analytics_pipeline.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"], cwd=REPO, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the server exited")
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


class Connection:
    """One keep-alive HTTP/1.1 connection (answers with Content-Length)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {KEY}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(port: int, paths, concurrency: int, total: int, check) -> dict:
    """``total`` requests spread over ``concurrency`` connections; latency of each."""
    connections = [Connection(port) for _ in range(concurrency)]
    for c in connections:
        await c.open()
    counter = iter(range(total))
    latencies: list[float] = []
    samples: list[tuple[int, bytes]] = []
    every = max(1, total // 5)

    async def user(conn: Connection) -> None:
        for i in counter:
            path = paths(i)
            t = time.perf_counter()
            status, body = await conn.get(path)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status} {body[:200]!r}")
            if check is not None and i % every == 0:
                samples.append((path, body))  # checked after the timed run, not while it runs

    started = time.perf_counter()
    await asyncio.gather(*(user(c) for c in connections))
    elapsed = time.perf_counter() - started
    for c in connections:
        c.close()
    for path, body in samples:
        check(path, body)
    ms = [x * 1000 for x in latencies]
    return {"rps": total / elapsed, "p50": percentile(ms, 50), "p99": percentile(ms, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--websites", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="requests per row and concurrency")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--redis-url", default="", help="use Redis as the cache (its analytics:* keys are deleted)")
    parser.add_argument("--quick", action="store_true", help="90,000 events and 300 requests a level")
    parser.add_argument("--warehouse-url", default="",
                        help="reuse a warehouse this script prepared today (kept afterwards) instead of a fresh one")
    args = parser.parse_args()
    if args.quick:
        args.events, args.requests = 90_000, 300
    levels = [int(c) for c in args.concurrency.split(",")]
    per_day = max(1, args.events // args.days)

    from analytics_pipeline.cache import entries as E

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        url = args.warehouse_url or fresh_database(args.backend, workdir, "api")
        server = None
        try:
            if args.warehouse_url:
                prep = reuse(url, args.days, args.redis_url)
            else:
                print(f"preparing {per_day * args.days:,} events in {args.backend} ...", flush=True)
                prep = prepare(url, workdir / "landing", args.days, args.websites, per_day, args.redis_url)
            first, today = prep["first"], prep["today"]
            port = free_port()
            server = start_server(url, args.redis_url, port, workdir)
            s30, e30 = E.last_full_days(datetime.now(timezone.utc), 30)
            warm_path = "/api/analytics/summary?" + urlencode({"from": E.iso_ms(E.midnight(s30)), "to": E.iso_ms(E.midnight(e30))})
            start90 = E.midnight(first)
            end90 = E.midnight(first + timedelta(days=args.days))
            run_tag = int(time.time()) % 100_000  # a range never asked before, even on a reused Redis

            def uncached(i: int) -> str:
                to = end90 + timedelta(seconds=1 + i, milliseconds=run_tag % 1000)
                return "/api/analytics/summary?" + urlencode({"from": E.iso_ms(start90), "to": E.iso_ms(to)})

            from analytics_pipeline.warehouse import Warehouse

            warehouse = Warehouse(url)
            checked: list[int] = []

            def check_uncached(path: str, body: bytes) -> None:
                from urllib.parse import parse_qs, urlsplit

                asked = parse_qs(urlsplit(path).query)
                to = datetime.fromisoformat(asked["to"][0].replace("Z", "+00:00"))
                assert datetime.fromisoformat(asked["from"][0].replace("Z", "+00:00")) == start90
                want = E.raw_summary(warehouse, start90, to)
                got = json.loads(body)
                assert got["cached"] is False and got["data"] == want, (got, want)
                checked.append(path)

            rows = [("floor: constant", lambda i: "/api/v1/ping", None),
                    ("warm summary (30 days)", lambda i: warm_path, None),
                    ("dashboard (30 days)", lambda i: "/api/v1/dashboard?timeframe=30d", None)]
            # the first uncached request builds the visitor index: timed on its own
            t = time.perf_counter()
            first_result = asyncio.run(load(port, lambda i: uncached(10_000_000 + i), 1, 1, None))
            cold_ms = (time.perf_counter() - t) * 1000
            results = []
            offset = 0
            for name, paths, check in rows + [("uncached 90-day summary", None, check_uncached)]:
                for level in levels:
                    if paths is None:
                        base = offset
                        result = asyncio.run(load(port, lambda i, b=base: uncached(b + i), level, args.requests, check))
                        offset += args.requests
                    else:
                        result = asyncio.run(load(port, paths, level, args.requests, check))
                    results.append((name, level, result))
                    print(f"  {name} c={level}: {result['rps']:.0f} req/s", flush=True)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=20)
            if args.redis_url:
                from analytics_pipeline.cache.backends import RedisCache
                from analytics_pipeline.cache.warm import clear_all

                clear_all(RedisCache(args.redis_url))
            if not args.warehouse_url:
                drop_database(url)

    load1, load5, _ = os.getloadavg()
    print(f"\n{prep['events']:,} events, {args.websites} websites x {args.days} days, {args.backend} warehouse, "
          f"{'Redis' if args.redis_url else 'embedded'} cache; one uvicorn worker; client in another process; "
          f"{os.cpu_count()} CPUs, load average {load1:.1f} / {load5:.1f} (1 / 5 min) at the end\n")
    print("| request | concurrency | requests/s | p50 (ms) | p99 (ms) | p99 / floor p99 |")
    print("|---|---|---|---|---|---|")
    floor = {level: r for name, level, r in results if name.startswith("floor")}
    for name, level, r in results:
        print(f"| {name} | {level} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['p99'] / floor[level]['p99']:.2f}x |")
    print(f"\nfirst uncached 90-day summary (builds the visitor index for {args.days} days): {cold_ms:.0f} ms "
          f"(client-measured {first_result['p50']:.0f} ms)")
    print(f"uncached answers checked against the raw events: {len(checked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
