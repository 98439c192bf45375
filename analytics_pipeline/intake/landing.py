"""Intake files in the landing directory: append and fsync, finish by rename, recover leftovers.

A file being written is named ``.intake-<utc>-<pid>-<n>-<rand>.jsonl.part``: the landing sensor
skips hidden files and names that are not event files, so it never sees a half-written line.
A finished file is renamed to ``intake-<utc>-<pid>-<n>-<rand>.jsonl`` (same directory, so the
rename is atomic) and the directory is fsynced; from then on it is an ordinary landing file.

The writer holds an exclusive ``flock`` on its open file. :func:`finish_leftovers` (run when an
intake starts) finishes every open file that no live process holds: a server killed with
SIGKILL left it, and its fsynced content was acknowledged. A trailing partial line (written
but never fsynced, hence never acknowledged) is cut off first.

Plain Python, no asyncio and no Dagster: :mod:`.commit` runs it on one writer thread.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

OPEN_PREFIX = ".intake-"
OPEN_SUFFIX = ".jsonl.part"
FINISHED_PREFIX = "intake-"
FINISHED_SUFFIX = ".jsonl"
# Held while a writer creates and locks a new file, and while leftovers are finished: a new
# file is never mistaken for a leftover between its creation and its lock.
DIRECTORY_LOCK = ".intake.lock"

_sync_data = getattr(os, "fdatasync", os.fsync)


def fsync_directory(directory: Path) -> None:
    """Make renames and new names in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finished_name(open_name: str) -> str:
    """``.intake-X.jsonl.part`` -> ``intake-X.jsonl``."""
    return open_name[len(OPEN_PREFIX) - len(FINISHED_PREFIX):][: -len(OPEN_SUFFIX)] + FINISHED_SUFFIX


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    fd = os.open(directory / DIRECTORY_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _cut_partial_line(fd: int) -> int:
    """Truncate the file after its last newline; the new size."""
    size = os.fstat(fd).st_size
    position = size
    while position > 0:
        start = max(0, position - 65536)
        block = os.pread(fd, position - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        position = start
    else:
        keep = 0
    if keep != size:
        os.ftruncate(fd, keep)
    return keep


def finish_leftovers(landing_dir: Path, log: Callable[[str], None] = lambda _m: None) -> list[Path]:
    """Finish the open intake files no live process holds; the finished paths. Empty leftovers
    (created, never written) are removed."""
    if not landing_dir.is_dir():
        return []
    finished: list[Path] = []
    with _directory_lock(landing_dir):
        for path in sorted(landing_dir.glob(OPEN_PREFIX + "*" + OPEN_SUFFIX)):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer's file
                size = _cut_partial_line(fd)
                if size == 0:
                    path.unlink()
                    log(f"removed empty intake leftover {path.name}")
                    continue
                os.fsync(fd)
                target = landing_dir / finished_name(path.name)
                os.rename(path, target)
                finished.append(target)
                log(f"finished intake leftover {path.name} -> {target.name} ({size} bytes)")
            finally:
                os.close(fd)
        fsync_directory(landing_dir)
    return finished


class LandingWriter:
    """Appends whole lines to one open intake file at a time, fsyncing every append, and
    finishes the file when it reaches ``rotate_bytes`` or ``rotate_seconds`` of age.

    Not thread-safe: one thread calls it (see :class:`.commit.GroupCommitter`)."""

    def __init__(self, landing_dir: Path, rotate_bytes: int, rotate_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.landing_dir = landing_dir
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.clock = clock
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self._count = 0
        self.finished: list[Path] = []

    @property
    def open_path(self) -> Path | None:
        return self._path

    def _open(self) -> None:
        self.landing_dir.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        name = f"{OPEN_PREFIX}{stamp}-{os.getpid()}-{self._count}-{secrets.token_hex(3)}{OPEN_SUFFIX}"
        path = self.landing_dir / name
        with _directory_lock(self.landing_dir):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fsync_directory(self.landing_dir)  # the name survives a crash, so its content is found
        self._fd, self._path, self._size, self._opened_at = fd, path, 0, self.clock()

    def append(self, data: bytes) -> None:
        """Write ``data`` (whole lines) and fsync it; once this returns the lines are durable.
        On an OSError nothing of ``data`` counts as written: the file is cut back to its last
        durable size and finished, and the next append opens a new file."""
        if not data:
            return
        if not data.endswith(b"\n"):
            raise ValueError("intake appends whole lines: the data must end with a newline")
        if self._fd is None:
            self._open()
        assert self._fd is not None
        durable = self._size
        try:
            _write_all(self._fd, data)
            _sync_data(self._fd)
        except OSError:
            self._abandon(durable)
            raise
        self._size = durable + len(data)
        if self._size >= self.rotate_bytes or self.clock() - self._opened_at >= self.rotate_seconds:
            self.finish()

    def seconds_until_rotation(self) -> float | None:
        """Seconds until the open file is due by age; ``None`` with no open file."""
        if self._fd is None:
            return None
        return max(0.0, self._opened_at + self.rotate_seconds - self.clock())

    def rotate_if_due(self) -> bool:
        if self._fd is not None and self.clock() - self._opened_at >= self.rotate_seconds:
            self.finish()
            return True
        return False

    def finish(self) -> Path | None:
        """Rename the open file to its finished name (it is fsynced already) and fsync the
        directory; the finished path, or ``None`` with no open file."""
        if self._fd is None or self._path is None:
            return None
        fd, path = self._fd, self._path
        self._fd, self._path = None, None
        try:
            # Renamed while still locked: a starting intake never finishes it a second time.
            target = self.landing_dir / finished_name(path.name)
            os.rename(path, target)
            fsync_directory(self.landing_dir)
        finally:
            os.close(fd)
        self.finished.append(target)
        return target

    def _abandon(self, durable: int) -> None:
        fd, path = self._fd, self._path
        self._fd, self._path = None, None
        if fd is None or path is None:
            return
        try:
            os.ftruncate(fd, durable)
            os.fsync(fd)
            if durable:
                target = self.landing_dir / finished_name(path.name)
                os.rename(path, target)
                self.finished.append(target)
            else:
                path.unlink()
            fsync_directory(self.landing_dir)
        except OSError:
            pass  # left as an open file: the next start cuts any partial line and finishes it
        finally:
            os.close(fd)

    def close(self) -> None:
        self.finish()
