"""Retention's batched delete, shared by the UTC path and the per-time-zone path."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def delete_in_batches(delete: Callable[[], int], result: Any, total: int, batch_size: int,
                      pause_seconds: float, log: Callable[[str], None], label: str) -> None:
    """Call ``delete`` (one batch of at most ``batch_size`` rows in its own transaction) until a
    batch comes back short, pausing ``pause_seconds`` between batches so readers and the
    ingestion writer get the database in between. Counts into ``result.events_deleted`` and
    ``result.batches``; ``label`` opens each progress line, ``{deleted}`` in it standing for the
    batch's size."""
    while True:
        deleted = delete()
        result.events_deleted += deleted
        if deleted:
            result.batches += 1
            log(f"{label.replace('{deleted}', str(deleted))} ({result.events_deleted}/{total})")
        if deleted < batch_size:
            return
        if pause_seconds:
            time.sleep(pause_seconds)
