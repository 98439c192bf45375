"""Load one prepared chunk into the warehouse in one transaction, with its ledger progress.

PostgreSQL: COPY into a temporary stage, then one INSERT that claims event ids and fills the
day partitions. SQLite: one large ``executemany`` of ``INSERT OR IGNORE``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.engine import Connection

from analytics_pipeline.ingestion.prepare import PreparedChunk
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
    conn.execute(warehouse.sql("create_event_stage"))
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(warehouse.sql_text("copy_event_stage")) as copy:
            copy.write(chunk.copy_data)
    return conn.execute(
        warehouse.sql("merge_stage_into_events"),
        {"ingested_at": now, "source_file": source_file, "batch_id": batch_id},
    ).rowcount
