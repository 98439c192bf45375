"""A chunk that carries other rows than its accepted lines is refused whole, loudly. Loading it
would count the missing rows as duplicates and lose them without a word, which is what a loader
and parser processes of two code versions once did (a chunk of lines arriving without rows)."""

from __future__ import annotations

import pytest

from analytics_pipeline.ingestion.load import ChunkMismatch, load_chunk
from analytics_pipeline.ingestion.prepare import PreparedChunk, binary_key, binary_row, sqlite_image
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.ingestion.helpers import count, ledger_file

ROW = ("e1", "w", "s", "v", "pageview", None, "/", None, "2024-03-01 10:00:00.000000", None)


def _chunk(warehouse: Warehouse, rows: list[tuple], accepted_lines: int) -> PreparedChunk:
    chunk = PreparedChunk(first_line=1, last_line=accepted_lines, lines=accepted_lines, accepted=accepted_lines,
                          row_lines=list(range(1, accepted_lines + 1)), days={"2024-03-01"},
                          day_counts={"2024-03-01": accepted_lines})
    if warehouse.is_sqlite:
        chunk.rows_image = sqlite_image(rows) if rows else b""
    else:
        chunk.copy_data = b"".join(binary_row(r) for r in rows)
        chunk.key_data = b"".join(binary_key(r[0], r[8]) for r in rows)
    return chunk


@pytest.mark.parametrize("carried", [0, 1, 3])
def test_a_chunk_without_its_rows_fails_and_stores_nothing(warehouse: Warehouse, carried: int) -> None:
    rows = [(f"e{i}",) + ROW[1:] for i in range(carried)]
    chunk = _chunk(warehouse, rows, accepted_lines=2)
    file_id = ledger_file(warehouse, "x.jsonl", days=("2024-03-01",))
    with pytest.raises(ChunkMismatch, match=rf"lines 1-2: it carries {carried} rows for 2 accepted lines"):
        with warehouse.begin() as conn:
            load_chunk(warehouse, conn, chunk, file_id, "x.jsonl")
    assert count(warehouse, "events") == 0
    assert count(warehouse, "ingest_batches") == 0


def test_a_whole_chunk_loads(warehouse: Warehouse) -> None:
    chunk = _chunk(warehouse, [ROW, ("e2",) + ROW[1:]], accepted_lines=2)
    file_id = ledger_file(warehouse, "x.jsonl", days=("2024-03-01",))
    with warehouse.begin() as conn:
        assert load_chunk(warehouse, conn, chunk, file_id, "x.jsonl").loaded == 2
