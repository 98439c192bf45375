"""When the landing sensor launches ingestion again for files that are still pending.

Pure logic, no Dagster: the sensor's cursor remembers the file set it last launched for and how
many times; when a run for that same set has ended and the files are still there (the run
failed: the database restarted, a disk filled), the set is launched again after 1, 2, 4, 8 and
16 minutes (counted from the end of the last run), and after :data:`MAX_LAUNCHES` launches the
sensor gives up and says so until the files change or someone resets its cursor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

BASE_DELAY_SECONDS = 60.0
MAX_DELAY_SECONDS = 30 * 60.0
MAX_LAUNCHES = 6


@dataclass
class LandingCursor:
    fingerprint: str = ""
    launches: int = 0
    last_launch: float = 0.0  # epoch seconds

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> LandingCursor:
        """The cursor; an earlier sensor's plain fingerprint counts as one launch of that set."""
        if not text:
            return cls()
        try:
            value = json.loads(text)
        except ValueError:
            return cls()
        if isinstance(value, dict) and "fingerprint" in value:
            return cls(str(value["fingerprint"]), int(value.get("launches", 1)), float(value.get("last_launch", 0.0)))
        return cls(text, 1, 0.0)


def relaunch_delay(launches: int) -> float:
    """Seconds to wait after the end of launch number ``launches`` before the next one."""
    return min(BASE_DELAY_SECONDS * 2 ** max(launches - 1, 0), MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class Decision:
    action: str  # "launch" | "wait" | "give_up"
    seconds_left: float = 0.0


def decide(cursor: LandingCursor, fingerprint: str, last_run_ended: float | None, now: float) -> Decision:
    """What to do with the pending file set ``fingerprint`` when no ingestion run is going.
    ``last_run_ended``: end time of the latest finished ingestion run, if known."""
    if fingerprint != cursor.fingerprint:
        return Decision("launch")
    if cursor.launches >= MAX_LAUNCHES:
        return Decision("give_up")
    since = max(cursor.last_launch, last_run_ended or 0.0)
    left = since + relaunch_delay(cursor.launches) - now
    return Decision("wait", left) if left > 0 else Decision("launch")
