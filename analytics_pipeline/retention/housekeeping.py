"""Bounded growth of everything beside events: rejected lines, the ingestion ledger, alert
history and processed landing files are deleted after their own configurable time, by the
retention job, with the same dry run.

What is kept and why:

* ``rejected_events``: ``ANALYTICS_REJECTED_RETENTION_DAYS`` (90) after ``rejected_at``.
* the ledger (``ingest_files`` with its ``ingest_batches`` and ``ingest_file_problems``):
  ``ANALYTICS_LEDGER_RETENTION_DAYS`` (400) after ``finished_at``, never fewer days than
  ``ANALYTICS_RETENTION_DAYS``. A file's content hash is what recognises it when it is dropped
  again; kept at least as long as its events are, a re-dropped file loads nothing new even after
  its ledger row goes (its events are then duplicates, or on days retention has dropped). Files
  still loading are never deleted (a crashed run resumes from them), and the newest chunk row
  always stays (the sessions watermark is the highest batch id).
* ``alert_history``: ``ANALYTICS_ALERT_HISTORY_RETENTION_DAYS`` (180) after ``sent_at`` (the
  cooldown looks back hours, not months).
* ``landing/processed/``: ``ANALYTICS_PROCESSED_RETENTION_DAYS`` (30) after the file was
  processed (ingestion stamps the file's time when it moves it there).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analytics_pipeline.warehouse import Warehouse

PROCESSED_DIR = "processed"


@dataclass(frozen=True)
class HousekeepingPolicy:
    rejected_days: int = 90
    ledger_days: int = 400
    alert_history_days: int = 180
    processed_days: int = 30

    def __post_init__(self) -> None:
        for name in ("rejected_days", "ledger_days", "alert_history_days", "processed_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class HousekeepingResult:
    dry_run: bool
    cutoffs: dict[str, str] = field(default_factory=dict)
    rejected_events: int = 0
    ingest_files: int = 0
    ingest_batches: int = 0
    alert_history: int = 0
    processed_files: int = 0
    processed_bytes: int = 0
    seconds: float = 0.0
    sql_files: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        verb = "to_delete" if self.dry_run else "deleted"
        return {
            "dry_run": self.dry_run,
            "cutoffs": dict(self.cutoffs),
            f"rejected_events_{verb}": self.rejected_events,
            f"ledger_files_{verb}": self.ingest_files,
            f"ledger_batches_{verb}": self.ingest_batches,
            f"alert_history_{verb}": self.alert_history,
            f"processed_files_{verb}": self.processed_files,
            f"processed_bytes_{verb}": self.processed_bytes,
            "seconds": round(self.seconds, 3),
        }


def purge_operational(
    warehouse: Warehouse,
    landing_dir: Path,
    policy: HousekeepingPolicy,
    *,
    now: datetime,
    events_retention_days: int,
    dry_run: bool = False,
    batch_size: int = 1000,
    log: Callable[[str], None] = print,
) -> HousekeepingResult:
    """Delete (or, in a dry run, count) what is older than ``policy`` as of ``now`` (UTC)."""
    started = time.perf_counter()
    result = HousekeepingResult(dry_run=dry_run)
    ledger_days = max(policy.ledger_days, events_retention_days)
    cutoffs = {
        "rejected_events": now - timedelta(days=policy.rejected_days),
        "ledger": now - timedelta(days=ledger_days),
        "alert_history": now - timedelta(days=policy.alert_history_days),
        "processed_files": now - timedelta(days=policy.processed_days),
    }
    result.cutoffs = {k: v.isoformat() for k, v in cutoffs.items()}

    result.rejected_events = _purge_rows(warehouse, "rejected_events", cutoffs["rejected_events"], dry_run,
                                         batch_size, result)
    result.alert_history = _purge_rows(warehouse, "alert_history", cutoffs["alert_history"], dry_run,
                                       batch_size, result)
    before = {"before": warehouse.ts(cutoffs["ledger"])}
    result.sql_files.append("count_old_ingest_files")
    counted = warehouse.query("count_old_ingest_files", before)[0]
    result.ingest_files, result.ingest_batches = int(counted["files"]), int(counted["batches"] or 0)
    if not dry_run and result.ingest_files:
        result.sql_files += ["delete_old_ingest_batches", "delete_old_ingest_file_problems", "delete_old_ingest_files"]
        with warehouse.begin() as conn:
            result.ingest_batches = conn.execute(warehouse.sql("delete_old_ingest_batches"), before).rowcount
            conn.execute(warehouse.sql("delete_old_ingest_file_problems"), before)
            result.ingest_files = conn.execute(warehouse.sql("delete_old_ingest_files"), before).rowcount

    processed = landing_dir / PROCESSED_DIR
    limit = cutoffs["processed_files"].timestamp()
    if processed.is_dir():
        for path in sorted(processed.iterdir()):
            try:
                stat = path.stat()
                if not path.is_file() or stat.st_mtime >= limit:
                    continue
                if not dry_run:
                    os.remove(path)
            except FileNotFoundError:
                continue
            result.processed_files += 1
            result.processed_bytes += stat.st_size

    mode = "would delete" if dry_run else "deleted"
    log(f"[Analytics Archive] Housekeeping {mode}: {result.rejected_events:,} rejected line(s), "
        f"{result.ingest_files:,} ledger file row(s) ({result.ingest_batches:,} chunk rows), "
        f"{result.alert_history:,} alert history row(s), {result.processed_files:,} processed file(s)")
    result.seconds = time.perf_counter() - started
    return result


def _purge_rows(warehouse: Warehouse, table: str, cutoff: datetime, dry_run: bool, batch_size: int,
                result: HousekeepingResult) -> int:
    params = {"before": warehouse.ts(cutoff)}
    result.sql_files.append(f"count_old_{table}")
    if dry_run:
        return int(warehouse.query(f"count_old_{table}", params)[0]["n"])
    result.sql_files.append(f"delete_old_{table}_batch")
    deleted = 0
    while True:
        batch = warehouse.run(f"delete_old_{table}_batch", {**params, "batch_size": batch_size})
        deleted += batch
        if batch < batch_size:
            return deleted
