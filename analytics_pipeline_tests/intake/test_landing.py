"""Intake files: durable appends in a file the landing sensor cannot see, rotation by size and
age to a name it ingests, leftovers of a killed process finished on start, and a failed write
that never leaves a broken line behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.run import pending_files
from analytics_pipeline.intake.commit import GroupCommitter
from analytics_pipeline.intake.landing import LandingWriter, finish_leftovers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(orjson.dumps({"event_id": f"e-{i}"}) + b"\n" for i in range(start, start + n))


def _open_files(landing: Path) -> list[Path]:
    return sorted(landing.glob(".intake-*.jsonl.part"))


def test_appends_stay_invisible_until_the_file_is_finished(landing_dir: Path) -> None:
    writer = LandingWriter(landing_dir, rotate_bytes=10_000, rotate_seconds=60, clock=Clock())
    writer.append(_lines(3))
    [open_file] = _open_files(landing_dir)
    assert open_file.read_bytes() == _lines(3)
    assert pending_files(landing_dir) == []  # the sensor and ingestion skip it
    finished = writer.finish()
    assert finished is not None and finished.name.startswith("intake-") and finished.suffix == ".jsonl"
    assert pending_files(landing_dir) == [finished]
    assert finished.read_bytes() == _lines(3) and _open_files(landing_dir) == []


def test_rotation_by_size_and_by_age(landing_dir: Path) -> None:
    clock = Clock()
    writer = LandingWriter(landing_dir, rotate_bytes=len(_lines(5)), rotate_seconds=30, clock=clock)
    writer.append(_lines(3))
    writer.append(_lines(2, 3))  # reaches the size: finished right after the fsync
    assert len(pending_files(landing_dir)) == 1 and _open_files(landing_dir) == []
    writer.append(_lines(1, 5))
    clock.now += 29
    assert not writer.rotate_if_due() and writer.seconds_until_rotation() == 1
    clock.now += 1
    assert writer.rotate_if_due()
    files = pending_files(landing_dir)
    assert len(files) == 2 and b"".join(sorted(f.read_bytes() for f in files)) == _lines(5) + _lines(1, 5)
    assert writer.seconds_until_rotation() is None  # no open file until the next append


def test_leftovers_are_finished_without_their_partial_line_and_live_files_are_left_alone(landing_dir: Path) -> None:
    live = LandingWriter(landing_dir, 10_000, 60, clock=Clock())
    live.append(_lines(2))
    # what a killed process leaves: fsynced lines, then half a line it never acknowledged
    killed = landing_dir / ".intake-20240301T100000-999-1-abcdef.jsonl.part"
    killed.write_bytes(_lines(4) + b'{"event_id": "e-hal')
    empty = landing_dir / ".intake-20240301T100000-999-2-abcdef.jsonl.part"
    empty.write_bytes(b'{"half')

    finished = finish_leftovers(landing_dir)

    assert [p.name for p in finished] == ["intake-20240301T100000-999-1-abcdef.jsonl"]
    assert finished[0].read_bytes() == _lines(4)
    assert not empty.exists()
    assert _open_files(landing_dir) == [live.open_path]  # locked by a live writer: untouched
    live.append(_lines(1, 2))
    assert live.finish().read_bytes() == _lines(3)


def test_group_commit_answers_every_request_with_few_fsyncs(landing_dir: Path) -> None:
    async def scenario() -> GroupCommitter:
        committer = GroupCommitter(LandingWriter(landing_dir, 1 << 30, 3600))
        await committer.start()
        await asyncio.gather(*(committer.append(_lines(1, i)) for i in range(200)))
        await committer.stop()
        return committer

    committer = asyncio.run(scenario())
    assert committer.stats.requests == 200
    assert committer.stats.commits < 200  # requests queued during an fsync share the next one
    [file] = pending_files(landing_dir)
    assert sorted(file.read_bytes().splitlines()) == sorted(_lines(200).splitlines())


def test_an_idle_open_file_is_finished_when_it_is_old_enough(landing_dir: Path) -> None:
    async def scenario() -> list[Path]:
        committer = GroupCommitter(LandingWriter(landing_dir, 1 << 30, 0.2))
        await committer.start()
        await committer.append(_lines(2))
        assert pending_files(landing_dir) == []
        for _ in range(100):  # no further request: the writer's own timer finishes the file
            await asyncio.sleep(0.05)
            if pending_files(landing_dir):
                break
        finished = pending_files(landing_dir)
        await committer.stop()
        return finished

    finished = asyncio.run(scenario())
    assert len(finished) == 1 and finished[0].read_bytes() == _lines(2)


def test_a_failed_write_is_cut_back_and_the_next_append_goes_to_a_new_file(landing_dir: Path) -> None:
    # A real failing write: the file size limit (RLIMIT_FSIZE) of a child process.
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from analytics_pipeline.intake.landing import LandingWriter
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        writer = LandingWriter(Path({str(landing_dir)!r}), 1 << 20, 3600)
        writer.append(b"a" * 99 + b"\\n")
        try:
            writer.append(b"b" * 1999 + b"\\n")
        except OSError as exc:
            print("failed", exc.errno)
        writer.append(b"c" * 99 + b"\\n")
        writer.finish()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("failed")
    contents = sorted(p.read_bytes() for p in pending_files(landing_dir))
    assert contents == [b"a" * 99 + b"\n", b"c" * 99 + b"\n"]
    assert _open_files(landing_dir) == []


@settings(max_examples=int(os.environ.get("INTAKE_PROPERTY_EXAMPLES", "40")), derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=5), st.binary(max_size=30))
def test_a_leftover_keeps_exactly_its_whole_lines(tmp_path_factory, lines: list[bytes], tail: bytes) -> None:
    landing = tmp_path_factory.mktemp("leftover")
    whole = b"".join(line + b"\n" for line in lines)
    (landing / ".intake-20240301T100000-1-1-000000.jsonl.part").write_bytes(whole + tail.replace(b"\n", b""))
    finished = finish_leftovers(landing)
    if whole:
        assert [p.read_bytes() for p in finished] == [whole]
    else:
        assert finished == [] and list(landing.glob(".intake-*")) == []
