"""The compiled CSV reader (``_fastpath.csv_records`` behind ``readers.iter_csv``) against the
csv module's (``readers.iter_csv_module``): on any bytes, read in blocks of any size, plain
or gzip, both give the same header and the same ``(line, cells)`` records, so a CSV file is
loaded, rejected and counted line for line as before."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion import readers
from analytics_pipeline.ingestion.readers import CSV_ERROR, FileFormatError, iter_csv, iter_csv_module

pytestmark = pytest.mark.skipif(readers._csv_records is None, reason="the compiled fast path is not built")

# Pieces that matter to a CSV reader: separators, quotes, every line end, whitespace (ASCII and
# not), NUL, a byte-order mark, valid multi-byte UTF-8 and bytes that are not UTF-8.
PIECES = [b"a", b"bc", b"1", b",", b'"', b'""', b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b"\x1c",
          b"\xef\xbb\xbf", b"\xe2\x82\xac", b"\xe3\x80\x80", b"\xc2\x85", b"\xff", b"\xe2\x82", b"\\"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def both(path: Path, block_bytes: int) -> tuple[tuple, tuple]:
    return _read(lambda: iter_csv(path, block_bytes)), _read(lambda: iter_csv_module(path))


def _read(open_: object) -> tuple:
    try:
        header, records = open_()  # type: ignore[operator]
    except FileFormatError:
        return ("unreadable header",)
    return header, list(records)


@SETTINGS
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=60), block_bytes=st.sampled_from([1, 2, 3, 7, 64, 1 << 20]),
       compressed=st.booleans())
@example(pieces=[b'"', b"a", b"\r"], block_bytes=1, compressed=False)
@example(pieces=[b"a", b"\r", b"\n", b"\r"], block_bytes=1, compressed=False)
def test_compiled_reader_reads_what_the_csv_module_reads(tmp_path: Path, pieces: list[bytes], block_bytes: int,
                                                          compressed: bool) -> None:
    data = b"".join(pieces)
    path = tmp_path / ("f.csv.gz" if compressed else "f.csv")
    path.write_bytes(gzip.compress(data) if compressed else data)
    compiled, module = both(path, block_bytes)
    assert compiled == module


@SETTINGS
@given(rows=st.lists(st.lists(st.text(alphabet=st.sampled_from('ab,"\r\n \t\x00é€\u3000'), max_size=12),
                              min_size=1, max_size=5), max_size=20),
       block_bytes=st.sampled_from([1, 5, 64, 1 << 20]))
def test_records_written_by_the_csv_module_read_back_alike(tmp_path: Path, rows: list[list[str]],
                                                            block_bytes: int) -> None:
    """Quoted cells holding separators, quotes and line ends, as a CSV writer makes them."""
    path = tmp_path / "f.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    compiled, module = both(path, block_bytes)
    assert compiled == module


def test_a_record_longer_than_a_block_and_lines_across_blocks(tmp_path: Path) -> None:
    big = "x" * 5000
    path = tmp_path / "f.csv"
    path.write_bytes(f'h1,h2\r\n"{big}\r\n{big}",2\r\n3,"4\n"\r\n\r\n5,6'.encode())
    compiled, module = both(path, 100)
    assert compiled == module
    assert compiled[1] == [(2, [f"{big}\r\n{big}", "2"]), (4, ["3", "4\n"]), (7, ["5", "6"])]


@pytest.mark.parametrize(("line", "refused"), [(b"1,2,3\n", [4]), (b'"0123456789ab",2\n', [2, 4]),
                                              (b'1,"abcdefghijklmnop\nq",3\n', [2, 5])])
def test_a_field_over_the_limit_is_the_csv_modules_error_and_the_rest_reads_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: bytes, refused: list[int]
) -> None:
    monkeypatch.setattr(readers, "CSV_FIELD_LIMIT", 10)
    old = csv.field_size_limit(10)
    try:
        path = tmp_path / "f.csv"
        path.write_bytes(b"a,b,c\n" + line + b"x,y,z\n" + b"0123456789012,1\n" + b"last,1\n")
        compiled, module = both(path, 4)
    finally:
        csv.field_size_limit(old)
    assert compiled == module
    errors = [(n, cells) for n, cells in compiled[1] if cells[0] == CSV_ERROR]
    assert errors == [(n, [CSV_ERROR, "field larger than field limit (10)"]) for n in refused]
    assert compiled[1][-1] == (refused[-1] + 1, ["last", "1"])  # the line after the last refused one


def test_a_corrupt_gzip_tail_keeps_the_records_before_it(tmp_path: Path) -> None:
    rows = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(20000))
    packed = gzip.compress(rows)
    path = tmp_path / "f.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    header, records = iter_csv(path, 4096)
    got = []
    with pytest.raises(FileFormatError, match="file unreadable after line"):
        for record in records:
            got.append(record)
    assert header == ["a", "b"]
    assert got and got == [(n + 2, [str(n), "x"]) for n in range(len(got))]
