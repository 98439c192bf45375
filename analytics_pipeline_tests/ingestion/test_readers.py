"""The landing-file readers, without a database: the block reader that feeds worker processes
must cut plain JSONL into exactly the records the line reader yields, wherever reads end."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_pipeline.ingestion import readers
from analytics_pipeline.ingestion.readers import iter_jsonl, iter_jsonl_blocks, lines_of_block

CONTENTS = {
    "mixed": b'{"a":1}\n\n  \n{"b":2}\r\nnot json\n\t\n{"c":3}\n[1]\n\n{"d":4}\n',
    "no-final-newline": b'{"a":1}\n{"b":2}\n{"c":3}',
    "blank-start-and-end": b"\n\n{\"a\":1}\n \n{\"b\":2}\n\n\n",
    "only-blank": b"\n \n\r\n",
    "empty": b"",
    "long-lines": b"\n".join(b'{"k":"' + b"x" * n + b'"}' for n in (0, 100, 3, 250, 17)) + b"\n",
}


@pytest.mark.parametrize("block_bytes", [1, 5, 64, 1 << 22])
@pytest.mark.parametrize("chunk_lines", [1, 2, 3, 1000])
@pytest.mark.parametrize("content", list(CONTENTS), ids=list(CONTENTS))
def test_blocks_hold_exactly_the_lines_iter_jsonl_yields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, chunk_lines: int, block_bytes: int
) -> None:
    monkeypatch.setattr(readers, "_BLOCK_BYTES", block_bytes)
    path = tmp_path / "f.jsonl"
    path.write_bytes(CONTENTS[content])
    expected = list(iter_jsonl(path))

    blocks = [lines_of_block(first, data) for first, data in iter_jsonl_blocks(path, chunk_lines)]

    assert [record for block in blocks for record in block] == expected
    assert all(len(block) == chunk_lines for block in blocks[:-1])
    assert all(0 < len(block) <= chunk_lines for block in blocks)


@pytest.mark.parametrize("skip_through", [0, 1, 4, 5, 9, 100])
def test_blocks_resume_after_a_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skip_through: int) -> None:
    monkeypatch.setattr(readers, "_BLOCK_BYTES", 7)
    path = tmp_path / "f.jsonl"
    path.write_bytes(CONTENTS["mixed"])
    expected = [r for r in iter_jsonl(path) if r[0] > skip_through]
    blocks = list(iter_jsonl_blocks(path, 2, skip_through))
    assert [r for first, data in blocks for r in lines_of_block(first, data)] == expected


def test_blocks_and_chunks_ramp_up_from_a_short_first_one(tmp_path: Path) -> None:
    """The run's first chunk is short (the loader waits for it), each next one twice as long up
    to the chunk size; together they are still every line exactly once, in order."""
    from analytics_pipeline.ingestion.prepare import _chunks
    from analytics_pipeline.ingestion.readers import iter_jsonl

    path = tmp_path / "ramp.jsonl"
    path.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(60)))
    blocks = [lines_of_block(first, data) for first, data in iter_jsonl_blocks(path, 10, 0, 2)]
    assert [len(b) for b in blocks] == [2, 4, 8, 10, 10, 10, 10, 6]
    assert [n for block in blocks for n, _ in block] == list(range(1, 61))
    chunks = list(_chunks(iter_jsonl(path), 10, 2))
    assert [len(c) for c in chunks] == [2, 4, 8, 10, 10, 10, 10, 6]
    assert [n for chunk in chunks for n, _ in chunk] == list(range(1, 61))
    assert [len(c) for c in _chunks(iter_jsonl(path), 25)] == [25, 25, 10]
