"""Load one prepared chunk into the warehouse in one transaction, with its ledger progress.

PostgreSQL: one COPY claims the chunk's event ids in ``event_keys`` and a second COPY writes
the rows into their day partitions; when some id is already stored, the chunk instead goes
through a temporary stage and one INSERT that claims what it can. SQLite: one large
``executemany`` of ``INSERT OR IGNORE``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from sqlalchemy.engine import Connection

from analytics_pipeline.ingestion.prepare import PreparedChunk, _copy_field
from analytics_pipeline.warehouse import Warehouse


def load_chunk(warehouse: Warehouse, conn: Connection, chunk: PreparedChunk, file_id: int,
               source_file: str) -> tuple[int, int, int]:
    """Write ``chunk``'s rows, rejections and ledger progress inside ``conn``'s transaction;
    returns ``(batch_id, loaded, duplicates)``."""
    now = datetime.now(timezone.utc)
    batch_id = conn.execute(
        warehouse.sql("insert_ingest_batch"),
        {"file_id": file_id, "first_line": chunk.first_line, "last_line": chunk.last_line,
         "committed_at": warehouse.ts(now)},
    ).scalar_one()

    loaded = 0
    if chunk.accepted:
        if warehouse.is_postgres:
            loaded = _load_postgres(warehouse, conn, chunk, batch_id, source_file, now)
        else:
            loaded = _load_sqlite(warehouse, conn, chunk, batch_id, source_file, now)
    duplicates = chunk.accepted - loaded

    if chunk.rejections:
        rejected_at = warehouse.ts(now)
        conn.execute(
            warehouse.sql("insert_rejected_event"),
            [
                {"source_file": source_file, "line_number": line, "raw": raw, "reason": reason,
                 "rejected_at": rejected_at}
                for line, raw, reason in chunk.rejections
            ],
        )
    conn.execute(warehouse.sql("update_ingest_batch_loaded"), {"loaded": loaded, "batch_id": batch_id})
    conn.execute(
        warehouse.sql("advance_ingest_file"),
        {"last_line": chunk.last_line, "lines": chunk.lines, "loaded": loaded,
         "duplicates": duplicates, "rejected": len(chunk.rejections), "file_id": file_id},
    )
    return batch_id, loaded, duplicates


def _load_sqlite(warehouse: Warehouse, conn: Connection, chunk: PreparedChunk, batch_id: int,
                 source_file: str, now: datetime) -> int:
    tail = (warehouse.ts(now), source_file, batch_id)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(warehouse.sql_text("insert_events"), [row + tail for row in chunk.rows])
        return cursor.rowcount
    finally:
        cursor.close()


def _load_postgres(warehouse: Warehouse, conn: Connection, chunk: PreparedChunk, batch_id: int,
                   source_file: str, now: datetime) -> int:
    for day in sorted(chunk.days):
        conn.execute(warehouse.sql("ensure_event_partition"), {"day": day})
    # Each COPY line gets the batch's columns: lines hold no raw newline (COPY escapes it), so
    # one bytes.replace does it without touching the rows in Python.
    tail = "\t".join(("", now.strftime("%Y-%m-%d %H:%M:%S.%f+00"), _copy_field(source_file), str(batch_id)))
    data = chunk.copy_data.replace(b"\n", tail.encode("utf-8") + b"\n")
    rows = chunk.copy_data.count(b"\n")
    raw = conn.connection.driver_connection
    try:
        # Fast path: claim every key of the chunk with one COPY, then COPY the rows straight
        # into their day partitions. A key already stored aborts the claim (savepoint).
        with raw.transaction(), raw.cursor() as cursor:
            with cursor.copy(warehouse.sql_text("copy_event_keys")) as copy:
                copy.write(chunk.key_data)
            with cursor.copy(warehouse.sql_text("copy_events")) as copy:
                copy.write(data)
        return rows
    except psycopg.errors.UniqueViolation:
        pass
    # Slow path: some event ids are already stored; only the keys claimed now are loaded.
    conn.execute(warehouse.sql("create_event_stage"))
    with raw.cursor() as cursor, cursor.copy(warehouse.sql_text("copy_event_stage")) as copy:
        copy.write(data)
    return conn.execute(warehouse.sql("merge_stage_into_events")).rowcount
