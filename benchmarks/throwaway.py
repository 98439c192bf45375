"""Throwaway databases for the benchmarks: a fresh SQLite file or PostgreSQL database per
measurement, dropped afterwards. PostgreSQL is on ANALYTICS_BENCH_PG_HOST (default 127.0.0.1),
port 5432, user postgres. Also what every benchmark reads of a process: its CPU seconds."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

PG_HOST = os.environ.get("ANALYTICS_BENCH_PG_HOST", "127.0.0.1")
PG_ADMIN_DSN = f"host={PG_HOST} port=5432 user=postgres dbname=postgres"


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads) so far, from ``/proc``
    (None when unreadable: the process is gone, or not on this machine). Far less swayed by the
    machine's other load than wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_unreachable() -> str | None:
    """None when the server answers, else the first line of why not."""
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def fresh_database(backend: str, workdir: Path, label: str) -> str:
    """The URL of a new empty database named after the benchmark ``label``."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'bench-{label}-{uuid.uuid4().hex[:8]}.db'}"
    import psycopg

    name = f"bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"


def drop_database(url: str) -> None:
    """Close pooled connections, then remove the SQLite file (and its WAL) or drop the database."""
    from analytics_pipeline.warehouse.engine import dispose_engines

    dispose_engines()
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
