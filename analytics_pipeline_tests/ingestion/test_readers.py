"""The landing-file readers, without a database: the compiled JSON-lines reader, which cuts
whole blocks into records, must give exactly the records the line reader yields, wherever
reads end, plain or gzip, and chunks are cut from its batches in order, every record once."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analytics_pipeline.ingestion import readers
from analytics_pipeline.ingestion.readers import FileFormatError, iter_jsonl, iter_jsonl_batches, rechunk

CONTENTS = {
    "mixed": b'{"a":1}\n\n  \n{"b":2}\r\nnot json\n\t\n{"c":3}\n[1]\n\n{"d":4}\n',
    "no-final-newline": b'{"a":1}\n{"b":2}\n{"c":3}',
    "blank-start-and-end": b"\n\n{\"a\":1}\n \n{\"b\":2}\n\n\n",
    "only-blank": b"\n \n\r\n",
    "empty": b"",
    "whitespace-kinds": b"\x0b\x0c\n\x1c\n\xc2\xa0\n\r\r\n{\"a\":1}\x0c\n",
    "long-lines": b"\n".join(b'{"k":"' + b"x" * n + b'"}' for n in (0, 100, 3, 250, 17)) + b"\n",
}


def _read(path: Path, skip_through: int = 0, block_bytes: int = 1 << 22) -> list:
    return [record for batch in iter_jsonl_batches(path, skip_through, block_bytes) for record in batch]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("block_bytes", [1, 5, 64, 1 << 22])
@pytest.mark.parametrize("content", list(CONTENTS), ids=list(CONTENTS))
def test_batches_hold_exactly_the_lines_iter_jsonl_yields(tmp_path: Path, content: str, block_bytes: int,
                                                          compressed: bool) -> None:
    path = tmp_path / ("f.jsonl.gz" if compressed else "f.jsonl")
    path.write_bytes(gzip.compress(CONTENTS[content]) if compressed else CONTENTS[content])
    assert _read(path, 0, block_bytes) == list(iter_jsonl(path))


@pytest.mark.parametrize("skip_through", [0, 1, 4, 5, 9, 100])
def test_batches_resume_after_a_line(tmp_path: Path, skip_through: int) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(CONTENTS["mixed"])
    assert _read(path, skip_through, 7) == [r for r in iter_jsonl(path) if r[0] > skip_through]


def test_without_the_compiled_reader_the_batches_are_the_same(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(CONTENTS["mixed"])
    expected = _read(path, 2)
    monkeypatch.setattr(readers, "_jsonl_records", None)
    assert _read(path, 2) == expected == [r for r in iter_jsonl(path) if r[0] > 2]


def test_a_truncated_gzip_gives_every_line_before_the_break_then_its_error(tmp_path: Path) -> None:
    """A read that fails loses no line the line reader would still get."""
    lines = b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(5000))
    packed = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    expected, error = [], None
    try:
        for record in iter_jsonl(path):
            expected.append(record)
    except FileFormatError as exc:
        error = str(exc)
    assert error and 0 < len(expected) < 5000
    got = []
    with pytest.raises(FileFormatError) as raised:
        for batch in iter_jsonl_batches(path, block_bytes=4096):
            got += batch
    assert got == expected
    assert str(raised.value) == error


def test_a_gz_name_that_is_not_gzip_is_unreadable_from_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(b'{"a": 1}\n')
    with pytest.raises(FileFormatError, match="after line 0"):
        list(iter_jsonl_batches(path))


def test_chunks_ramp_up_from_a_short_first_one_whatever_the_batches(tmp_path: Path) -> None:
    """The run's first chunk is short (the loader waits for it), each next one twice as long up
    to the chunk size; together they are still every record exactly once, in order."""
    records = [(n, b"{}") for n in range(1, 61)]
    for cut in ([records], [records[:7], records[7:8], [], records[8:33], records[33:]], [[r] for r in records]):
        chunks = list(rechunk(iter(cut), 10, 2))
        assert [len(c) for c in chunks] == [2, 4, 8, 10, 10, 10, 10, 6]
        assert [r for chunk in chunks for r in chunk] == records
    assert [len(c) for c in rechunk(iter([records]), 25)] == [25, 25, 10]


def test_a_failing_read_yields_the_records_chunked_so_far_first() -> None:
    def batches():
        yield [(1, b"{}"), (2, b"{}"), (3, b"{}")]
        raise FileFormatError("file unreadable after line 3: boom")

    got = []
    with pytest.raises(FileFormatError, match="boom"):
        for chunk in rechunk(batches(), 2):
            got.append(chunk)
    assert got == [[(1, b"{}"), (2, b"{}")], [(3, b"{}")]]
