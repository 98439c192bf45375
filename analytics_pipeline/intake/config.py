"""The intake's configuration, read from the environment in one place.

| variable | default | meaning |
|---|---|---|
| ``ANALYTICS_LANDING_DIR`` | ``$ANALYTICS_DATA_DIR/landing`` | where the intake writes its files |
| ``ANALYTICS_INTAKE_ROTATE_BYTES`` | ``67108864`` (64 MiB) | an open intake file this large is finished |
| ``ANALYTICS_INTAKE_ROTATE_SECONDS`` | ``10`` | an open intake file this old is finished |
| ``ANALYTICS_INTAKE_MAX_BATCH_EVENTS`` | ``10000`` | a batch with more events gets 413 |

A finished file is renamed to ``intake-….jsonl``, which the landing sensor picks up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from analytics_pipeline import settings


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class IntakeConfig:
    landing_dir: Path
    rotate_bytes: int = 64 * 1024 * 1024
    rotate_seconds: float = 10.0
    max_batch_events: int = 10_000
    start_date: date | None = None  # ANALYTICS_START_DATE: earlier events are rejected, as in files

    @classmethod
    def from_env(cls) -> "IntakeConfig":
        return cls(
            landing_dir=settings.landing_dir(),
            rotate_bytes=_env_int("ANALYTICS_INTAKE_ROTATE_BYTES", 64 * 1024 * 1024),
            rotate_seconds=_env_float("ANALYTICS_INTAKE_ROTATE_SECONDS", 10.0),
            max_batch_events=_env_int("ANALYTICS_INTAKE_MAX_BATCH_EVENTS", 10_000),
            start_date=settings.start_date(),
        )
