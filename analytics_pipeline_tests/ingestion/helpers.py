"""Reading back what ingestion stored, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from analytics_pipeline.ingestion.run import IngestResult, ingest_landing
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.factories import NOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingestion"
# Documentation-range addresses used in test data; none may ever be stored.
TEST_IPS = re.compile(r"(198\.51\.100|203\.0\.113)\.\d+|2001:db8:[0-9a-f:]*", re.IGNORECASE)


def ingest(warehouse: Warehouse, landing_dir: Path, **kwargs: Any) -> IngestResult:
    """``ingest_landing`` as of the factories' ``NOW`` (inline parsing unless ``workers`` given)."""
    kwargs.setdefault("now", lambda: NOW)
    kwargs.setdefault("workers", 0)
    return ingest_landing(warehouse, landing_dir, **kwargs)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def stored_events(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """``events`` by event_id; ``occurred_at`` as an ISO 8601 UTC string, ``properties`` parsed."""
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM events")).mappings().all()
    out = {}
    for row in rows:
        item = dict(row)
        item["occurred_at"] = Warehouse.to_datetime(item["occurred_at"]).isoformat()
        item["properties"] = _json(item["properties"])
        out[item["event_id"]] = item
    return out


def rejections(warehouse: Warehouse, source_file: str | None = None) -> list[dict[str, Any]]:
    """``rejected_events`` rows in (source_file, line_number) order."""
    sql = "SELECT source_file, line_number, raw, reason, rejected_at FROM rejected_events"
    params: dict[str, Any] = {}
    if source_file is not None:
        sql += " WHERE source_file = :f"
        params["f"] = source_file
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text(sql + " ORDER BY source_file, line_number, id"), params).mappings().all()
    return [dict(r) for r in rows]


def ledger(warehouse: Warehouse) -> list[dict[str, Any]]:
    """``ingest_files`` rows in file_id order."""
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM ingest_files ORDER BY file_id")).mappings().all()
    return [dict(r) for r in rows]


def ledger_file(warehouse: Warehouse, name: str, days: tuple[str, ...] = ()) -> int:
    """A new ``ingest_files`` row for ``name`` (its id), for tests that call ``load_chunk``
    themselves; on PostgreSQL the day partitions of ``days`` are made too."""
    with warehouse.begin() as conn:
        if warehouse.is_postgres:
            for day in days:
                conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})
        return conn.execute(warehouse.sql("insert_ingest_file"),
                            {"sha256": name, "path": name, "size_bytes": 1,
                             "started_at": warehouse.ts(NOW)}).scalar_one()


def count(warehouse: Warehouse, table: str, where: str = "", **params: Any) -> int:
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    with warehouse.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def all_stored_text(warehouse: Warehouse) -> str:
    """Every value of ``events`` and ``rejected_events`` as one string (for "never stored" checks)."""
    parts: list[str] = []
    with warehouse.connect() as conn:
        for table in ("events", "rejected_events"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                parts.extend(orjson.dumps(v).decode() if isinstance(v, (dict, list)) else str(v) for v in row)
    return "\n".join(parts)


def non_blank_lines(data: bytes) -> int:
    """What a JSONL file counts for: physical lines (split on ``\\n``) that are not blank."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def failing_on_call(real: Any, n: int, error: BaseException) -> Any:
    """``real``, except that its ``n``-th call raises ``error`` instead of running."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            raise error
        return real(*args, **kwargs)

    return wrapper
