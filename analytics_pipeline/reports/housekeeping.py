"""Report housekeeping: report files older than ``ANALYTICS_REPORTS_MAX_AGE_DAYS`` are archived
(moved under ``$ANALYTICS_REPORTS_DIR/.archive/``, keeping their ``{template_id}/`` folder) or
deleted (``ANALYTICS_REPORTS_EXPIRED_ACTION=delete``). Age is the file's modification time, which
is when the report was last written. A dry run lists what would happen and touches nothing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ACTIONS = ("archive", "delete")
ARCHIVE_DIR = ".archive"
REPORT_SUFFIXES = (".csv", ".json", ".xlsx", ".pdf", ".gz")


@dataclass
class HousekeepingResult:
    action: str
    cutoff: datetime
    dry_run: bool
    files: list[Path] = field(default_factory=list)
    bytes: int = 0

    def as_metadata(self) -> dict:
        return {"action": self.action, "cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run,
                "files": len(self.files), "bytes": self.bytes}


def expired_files(reports_dir: Path, max_age_days: int, now: datetime) -> list[Path]:
    """Report files (not temporary ones, not already archived) last written before the cutoff."""
    reports_dir = Path(reports_dir)
    if max_age_days <= 0 or not reports_dir.is_dir():
        return []
    cutoff = (now - timedelta(days=max_age_days)).timestamp()
    out = []
    for path in sorted(reports_dir.rglob("*")):
        relative = path.relative_to(reports_dir)
        if (not path.is_file() or relative.parts[0] == ARCHIVE_DIR or path.name.startswith(".")
                or path.suffix not in REPORT_SUFFIXES):
            continue
        if path.stat().st_mtime < cutoff:
            out.append(path)
    return out


def clean_reports(reports_dir: Path, max_age_days: int, action: str, *, now: datetime | None = None,
                  dry_run: bool = False) -> HousekeepingResult:
    """Archive or delete the expired report files; returns what was (or would be) done."""
    if action not in ACTIONS:
        raise ValueError(f"ANALYTICS_REPORTS_EXPIRED_ACTION must be one of {', '.join(ACTIONS)}, got {action!r}")
    now = now or datetime.now(timezone.utc)
    reports_dir = Path(reports_dir)
    result = HousekeepingResult(action, now - timedelta(days=max_age_days), dry_run)
    for path in expired_files(reports_dir, max_age_days, now):
        result.files.append(path)
        result.bytes += path.stat().st_size
        if dry_run:
            continue
        if action == "delete":
            path.unlink(missing_ok=True)
        else:
            target = reports_dir / ARCHIVE_DIR / path.relative_to(reports_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
    return result
