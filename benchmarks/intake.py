"""HTTP event intake: events/s and latency against a bare fsyncing endpoint, and the delay from
``202`` to the dashboard.

    .venv/bin/python benchmarks/intake.py            # 20,000 single events, 1,000 x 100, 200 x 1,000
    .venv/bin/python benchmarks/intake.py --quick    # a tenth of that, in well under a minute

Three server processes run side by side on 127.0.0.1, all ``uvicorn`` with the same loop and
HTTP parser, each writing to its own temporary landing directory with the same group commit
(:class:`GroupCommitter` over :class:`LandingWriter`: one write and one fsync per group):

* **intake**: ``analytics-pipeline serve`` - API key check, rate limit, orjson parse, the
  ingestion rules per event, the key's website scope, IP fields removed, a JSON answer per event;
* **app floor**: the same API app (same middleware) with one more route that appends the body
  as it came through the same running intake and answers a constant ``202``: what the web
  framework costs before the intake does anything;
* **floor**: a bare ASGI app (below) that appends the request body as it came and answers a
  constant ``202`` - no framework, no key, no parsing, no validation.

Each is driven by ``--concurrency`` keep-alive connections (an asyncio client in this process,
raw HTTP/1.1, one request in flight per connection) with single events (``POST /api/events``)
and batches of 100 and 1,000 (``POST /api/events/batch``). Latency is from the request's first
byte sent to the answer's last byte read. Every answer must be ``202`` with every event
accepted, and the intake's files must hold exactly the events sent. Server CPU (user + system
time of the server process per event) is printed beside wall time: on a machine shared with
other work it says what the server costs, where wall time says what share of a core it got.

Then **202 -> dashboard**: a fresh intake server (files finished after ``--e2e-rotate-seconds``)
gets one batch of events happening now; the clock starts at its ``202``, waits for the finished
file, then runs what the assets run (``ingest_landing``, ``update_sessions``, ``build_period``
of today, the summary entry of today written to the embedded cache) and stops when the entry
counts the events. In production the landing sensor's interval (30 s) comes on top.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from throwaway import process_cpu_seconds  # noqa: E402

KEY = "bench-intake-key-0001"
KINDS = ("intake", "app floor", "floor")
SITE = "bench-site"


# -- the floor: a bare ASGI app with the same group commit ----------------------------------
class FloorApp:
    """Appends each request body (plus a newline) with the intake's group commit; answers a
    constant 202."""

    def __init__(self, landing: Path, rotate_bytes: int, rotate_seconds: float) -> None:
        self.landing, self.rotate_bytes, self.rotate_seconds = landing, rotate_bytes, rotate_seconds
        self.committer = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            from analytics_pipeline.intake.commit import GroupCommitter
            from analytics_pipeline.intake.landing import LandingWriter

            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.committer = GroupCommitter(LandingWriter(self.landing, self.rotate_bytes, self.rotate_seconds))
                    await self.committer.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.committer.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        body += b"\n"
        await self.committer.append(bytes(body))
        answer = b'{"accepted":true}'
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def serve_floor(port: int, landing: str, rotate_bytes: int, rotate_seconds: float) -> None:
    import uvicorn

    uvicorn.run(FloorApp(Path(landing), rotate_bytes, rotate_seconds), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


APP_FLOOR_PATH = "/bench/floor"


def serve_app_floor(port: int) -> None:
    """The API app itself (same middleware, same started intake) plus one bare route that
    appends the body with the intake's group commit: the web framework's share of the cost."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response

    from analytics_pipeline.api.app import create_app

    async def bare(request: Request) -> Response:
        await request.app.state.intake.committer.append(await request.body() + b"\n")
        return Response(b'{"accepted":true}', status_code=202, media_type="application/json")

    app = create_app()
    app.router.add_route(APP_FLOOR_PATH, bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- servers --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def start_server(kind: str, landing: Path, workdir: Path, rotate_bytes: int, rotate_seconds: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({
        "ANALYTICS_DATA_DIR": str(workdir / "data"),
        "ANALYTICS_LANDING_DIR": str(landing),
        "ANALYTICS_API_KEYS": f"{KEY}={SITE}",
        "ANALYTICS_API_RATE_LIMIT": str(10**9),
        "ANALYTICS_INTAKE_ROTATE_BYTES": str(rotate_bytes),
        "ANALYTICS_INTAKE_ROTATE_SECONDS": str(rotate_seconds),
    })
    if kind == "intake":
        args = [str(Path(sys.executable).parent / "analytics-pipeline"), "serve", "--port", str(port),
                "--log-level", "warning"]
    elif kind == "app floor":
        args = [sys.executable, __file__, "--serve-app-floor", str(port)]
    else:
        args = [sys.executable, __file__, "--serve-floor", str(port), str(landing), str(rotate_bytes),
                str(rotate_seconds)]
    proc = subprocess.Popen(args, env=env, cwd=workdir)
    wait_listening(port, proc)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- load -----------------------------------------------------------------------------------
def make_events(prefix: str, count: int, now: datetime) -> list[dict]:
    when = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [{"event_id": f"{prefix}-{i}", "website_id": SITE, "session_id": f"s-{i // 20}",
             "visitor_id": f"v-{i // 50}", "event_type": "pageview" if i % 4 else "custom",
             "event_name": None if i % 4 else "signup", "url_path": f"/page/{i % 37}",
             "referrer": "https://www.google.com/search?q=x" if i % 3 == 0 else None, "occurred_at": when,
             "properties": {"plan": "pro", "n": i % 10}, "context": {"ip": "203.0.113.9", "userAgent": "bench"}}
            for i in range(count)]


def requests_for(events: list[dict], batch: int, path: str | None = None) -> list[bytes]:
    out = []
    for start in range(0, len(events), batch):
        if batch == 1:
            body = orjson.dumps(events[start])
        else:
            body = orjson.dumps(events[start:start + batch])
        path = path or ("/api/events" if batch == 1 else "/api/events/batch")
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


async def _connection(port: int, requests: list[bytes], latencies: list[float], answers: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    clock = time.perf_counter
    try:
        for request in requests:
            started = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(clock() - started)
            if head[9:12] != b"202":
                raise RuntimeError(f"answer {head[:12]!r}: {body[:300]!r}")
            answers.append(body)
    finally:
        writer.close()


async def _drive(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], list[bytes]]:
    lanes = [requests[i::concurrency] for i in range(concurrency)]
    latencies: list[float] = []
    answers: list[bytes] = []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, lane, latencies, answers) for lane in lanes))
    return time.perf_counter() - started, latencies, answers


def drive(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], list[bytes]]:
    try:
        import uvloop

        return uvloop.run(_drive(port, requests, concurrency))
    except ImportError:
        return asyncio.run(_drive(port, requests, concurrency))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process (all its threads) so far."""
    seconds = process_cpu_seconds(pid)
    if seconds is None:
        raise RuntimeError(f"process {pid}'s /proc entry is unreadable")
    return seconds


def fsync_latency(directory: Path, samples: int = 200) -> tuple[float, float]:
    """p50 and p99 seconds of ``fdatasync`` after appending a 300-byte line, in ``directory``."""
    path = directory / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sync = getattr(os, "fdatasync", os.fsync)
    times = []
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 299 + b"\n")
            started = time.perf_counter()
            sync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return percentile(times, 50), percentile(times, 99)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def landed_lines(landing: Path) -> int:
    return sum(f.read_bytes().count(b"\n") for f in landing.glob("*intake-*.jsonl*"))


# -- 202 -> dashboard -----------------------------------------------------------------------
def end_to_end(workdir: Path, rotate_seconds: float, events: int) -> dict[str, float]:
    from analytics_pipeline.cache import entries as E
    from analytics_pipeline.cache.backends import EmbeddedCache
    from analytics_pipeline.ingestion.run import ingest_landing, pending_files
    from analytics_pipeline.sessions.build import update_sessions
    from analytics_pipeline.stats.build import build_period
    from analytics_pipeline.warehouse import Warehouse

    landing = workdir / "e2e-landing"
    warehouse = Warehouse(f"sqlite:///{workdir / 'e2e.db'}")
    cache = EmbeddedCache(warehouse)
    proc, port = start_server("intake", landing, workdir, 64 << 20, rotate_seconds)
    try:
        now = datetime.now(timezone.utc)
        batch = make_events("e2e", events, now)
        if (now - timedelta(minutes=1)).date() != now.date():
            raise SystemExit("run the 202 -> dashboard step again after 00:01 UTC")
        elapsed, _, answers = drive(port, requests_for(batch, len(batch)), 1)
        acknowledged = time.perf_counter()
        assert orjson.loads(answers[0])["accepted"] == events
        while not pending_files(landing):
            time.sleep(0.01)
        finished = time.perf_counter()
        result = ingest_landing(warehouse, landing, workers=0)
        ingested = time.perf_counter()
        update_sessions(warehouse, timeout_minutes=30)
        sessions = time.perf_counter()
        today = now.date()
        build_period(warehouse, "day", today)
        stats = time.perf_counter()
        start, end = E.midnight(today), E.midnight(today + timedelta(days=1))
        key = E.summary_key(start, end)
        cache.set_many({key: json.dumps(E.summary_value(warehouse, today, today + timedelta(days=1)))}, 60)
        counted = json.loads(cache.get(key))["eventsByType"]
        done = time.perf_counter()
        assert result.loaded == events and sum(counted.values()) == events, (result.loaded, counted)
    finally:
        stop_server(proc)
    return {"rotation": finished - acknowledged, "ingest": ingested - finished, "sessions": sessions - ingested,
            "daily_stats": stats - sessions, "dashboard": done - stats, "total": done - acknowledged,
            "post": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the default sizes")
    parser.add_argument("--single", type=int, default=20_000, help="single-event requests")
    parser.add_argument("--batches-100", type=int, default=1_000)
    parser.add_argument("--batches-1000", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rotate-bytes", type=int, default=64 << 20)
    parser.add_argument("--rotate-seconds", type=float, default=10.0)
    parser.add_argument("--e2e-events", type=int, default=100)
    parser.add_argument("--e2e-rotate-seconds", type=float, default=1.0)
    parser.add_argument("--serve-floor", nargs=4, metavar=("PORT", "LANDING", "ROTATE_BYTES", "ROTATE_SECONDS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--serve-app-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_app_floor:
        serve_app_floor(args.serve_app_floor)
        return 0
    if args.serve_floor:
        port, landing, rotate_bytes, rotate_seconds = args.serve_floor
        serve_floor(int(port), landing, int(rotate_bytes), float(rotate_seconds))
        return 0
    scale = 0.1 if args.quick else 1.0
    shapes = [("single event", 1, int(args.single * scale)), ("batch of 100", 100, int(args.batches_100 * scale)),
              ("batch of 1,000", 1000, int(args.batches_1000 * scale))]

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        sync_p50, sync_p99 = fsync_latency(workdir)
        servers = {kind: start_server(kind, workdir / f"{kind}-landing", workdir, args.rotate_bytes, args.rotate_seconds)
                   for kind in KINDS}
        try:
            now = datetime.now(timezone.utc)
            for label, size, count in shapes:
                events = make_events(f"{size}", count * size, now)
                row = {"label": label, "requests": count, "events": count * size}
                for kind, (proc, port) in servers.items():
                    path = APP_FLOOR_PATH if kind == "app floor" else None
                    warm = requests_for(make_events(f"warm-{kind}-{size}", size * args.concurrency, now), size, path)
                    drive(port, warm, args.concurrency)
                    unique = [{**e, "event_id": f"{kind}-{e['event_id']}"} for e in events]
                    requests = requests_for(unique, size, path)
                    cpu = cpu_seconds(proc.pid)
                    seconds, latencies, answers = drive(port, requests, args.concurrency)
                    cpu = cpu_seconds(proc.pid) - cpu
                    if kind == "intake":
                        accepted = sum(orjson.loads(a)["accepted"] for a in answers)
                        assert accepted == count * size, (accepted, count * size)
                    row[kind] = {"seconds": seconds, "p50": percentile(latencies, 50) * 1000,
                                 "p99": percentile(latencies, 99) * 1000, "cpu": cpu}
                rows.append(row)
                print(f"measured {label}", file=sys.stderr, flush=True)
        finally:
            for proc, _ in servers.values():
                stop_server(proc)
        sent = sum(r["events"] + args.concurrency * (1 if r["label"] == "single event" else int(r["label"].split()[-1].replace(",", ""))) for r in rows)
        landed = landed_lines(workdir / "intake-landing")
        assert landed == sent, f"the intake's files hold {landed} lines, {sent} events were accepted"
        delay = end_to_end(workdir, args.e2e_rotate_seconds, args.e2e_events)

    load = os.getloadavg()
    print(f"\nconcurrency {args.concurrency}, {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} at the end; files rotate at {args.rotate_bytes >> 20} MiB or {args.rotate_seconds:g} s")
    print(f"fdatasync of an append here: p50 {sync_p50 * 1000:.2f} ms, p99 {sync_p99 * 1000:.2f} ms; with one request "
          f"in flight per connection and one fsync per group, {args.concurrency} connections get at most "
          f"{args.concurrency / sync_p50:,.0f} requests/s (concurrency / fsync p50)\n")
    print("Wall clock:\n")
    print("| requests | count | intake events/s | intake requests/s | intake p50 / p99 (ms) | app floor events/s | "
          "app floor p50 / p99 (ms) | floor events/s | floor p50 / p99 (ms) | floor / intake |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        eps = {kind: r["events"] / r[kind]["seconds"] for kind in KINDS}
        lat = {kind: f"{r[kind]['p50']:.1f} / {r[kind]['p99']:.1f}" for kind in KINDS}
        print(f"| {r['label']} | {r['requests']:,} | {eps['intake']:,.0f} | {r['requests'] / r['intake']['seconds']:,.0f} | "
              f"{lat['intake']} | {eps['app floor']:,.0f} | {lat['app floor']} | {eps['floor']:,.0f} | {lat['floor']} | "
              f"{eps['floor'] / eps['intake']:.2f}x |")
    print("\nServer CPU per event (µs):\n")
    print("| requests | intake | app floor | floor | intake / floor | intake / app floor |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cpu = {kind: r[kind]["cpu"] / r["events"] * 1e6 for kind in KINDS}
        ratio = (lambda a, b: f"{a / b:.1f}x" if b else "-")
        print(f"| {r['label']} | {cpu['intake']:.1f} | {cpu['app floor']:.1f} | {cpu['floor']:.1f} | "
              f"{ratio(cpu['intake'], cpu['floor'])} | {ratio(cpu['intake'], cpu['app floor'])} |")
    print("\nServer CPU is user + system time of the server process (all threads) over the run divided by "
          "the events: 1,000,000 / µs is what one core would sustain with nothing else running.")
    print(f"\n202 -> dashboard for {args.e2e_events} events (files finished after {args.e2e_rotate_seconds:g} s; "
          "the landing sensor's 30 s interval not included):\n")
    print("| file finished | ingest | sessions | daily_stats | dashboard entry | total |")
    print("|---|---|---|---|---|---|")
    print(f"| {delay['rotation']:.2f} s | {delay['ingest']:.2f} s | {delay['sessions']:.2f} s | "
          f"{delay['daily_stats']:.2f} s | {delay['dashboard']:.2f} s | {delay['total']:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
