"""Group commit: many concurrent requests share one write and one fsync.

Each request hands its lines to :meth:`GroupCommitter.append` and waits. One writer task takes
everything pending, writes it with one ``write`` and one ``fsync`` on a dedicated thread (so the
event loop keeps serving while the disk works), then wakes all those requests at once. While
that fsync runs, the next requests queue up and form the next group: no timer, no added delay
when the server is idle, and one fsync per group when it is busy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from analytics_pipeline.intake.landing import LandingWriter, finish_leftovers

log = logging.getLogger("analytics_pipeline.intake")


class IntakeUnavailable(Exception):
    """The lines could not be made durable (disk full, I/O error); nothing was acknowledged."""


@dataclass
class CommitStats:
    commits: int = 0
    requests: int = 0
    bytes: int = 0
    failures: int = 0
    seconds: float = 0.0


class GroupCommitter:
    """Owns a :class:`LandingWriter` and the one thread that calls it."""

    def __init__(self, writer: LandingWriter) -> None:
        self.writer = writer
        self.stats = CommitStats()
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="intake-writer")
        self.recovered: list = []

    async def start(self) -> None:
        """Finish leftovers of an earlier process, then start the writer task."""
        loop = asyncio.get_running_loop()
        self.recovered = await loop.run_in_executor(self._executor, finish_leftovers, self.writer.landing_dir)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="intake-group-commit")

    async def append(self, data: bytes) -> None:
        """Return once ``data`` (whole lines) is written and fsynced; raise
        :class:`IntakeUnavailable` when it could not be."""
        if self._task is None or self._stopping:
            raise IntakeUnavailable("the intake is not running")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(data)
        self._waiters.append(future)
        self._wake.set()
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        while True:
            if not self._pending:
                if self._stopping:
                    return
                timeout = self.writer.seconds_until_rotation()
                try:
                    await asyncio.wait_for(wake.wait(), timeout)
                except TimeoutError:
                    pass
                wake.clear()
            if not self._pending:
                try:
                    await loop.run_in_executor(self._executor, self.writer.rotate_if_due)
                except OSError as exc:  # the file stays open; the next start finishes it
                    log.error("could not finish intake file %s: %s", self.writer.open_path, exc)
                continue
            data, waiters = b"".join(self._pending), self._waiters
            self._pending, self._waiters = [], []
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self.writer.append, data)
            except Exception as exc:  # noqa: BLE001 - every waiter must get an answer
                self.stats.failures += 1
                log.error("intake write failed (%d requests answered 503): %s", len(waiters), exc)
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                error = IntakeUnavailable(f"events could not be stored: {reason}")
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                continue
            self.stats.commits += 1
            self.stats.requests += len(waiters)
            self.stats.bytes += len(data)
            self.stats.seconds += time.perf_counter() - started
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def stop(self) -> None:
        """Commit what is pending, finish the open file, stop the thread."""
        self._stopping = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            await self._task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.writer.close)
        self._executor.shutdown(wait=True)
