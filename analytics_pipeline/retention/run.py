"""Delete raw events and sessions older than the retention period, never a day whose
statistics are incomplete (the guard is in :mod:`analytics_pipeline.retention.plan`).

PostgreSQL drops whole day partitions (``events_pYYYYMMDD``) together with that day's
``event_keys``, one transaction per day, after locking and re-counting the partition. SQLite
deletes in batches of ``batch_size`` with a short pause and a progress line per batch; only
events loaded before the plan was made are deleted. Statistics tables are never touched.
Every dropped day is recorded in ``retention_dropped_days``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Iterable

from analytics_pipeline.partitions import period_start
from analytics_pipeline.retention.plan import (
    RetentionPlan,
    WebsiteDay,
    contiguous_ranges,
    plan_retention,
)
from analytics_pipeline.retention.batches import delete_in_batches
from analytics_pipeline.retention.local_days import delete_local_days, earliest_midnight, raw_local_days
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites

DEFAULT_PAUSE_SECONDS = 0.01
PG_SESSION_BATCH = 50_000
LOG_PREFIX = "[Analytics Archive]"


def midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=timezone.utc)


def partition_name(day: date) -> str:
    """The PostgreSQL partition of ``events`` holding ``day`` (see analytics_ensure_event_partition)."""
    return f"events_p{day:%Y%m%d}"


def partition_day(name: str) -> date:
    return datetime.strptime(name.removeprefix("events_p"), "%Y%m%d").date()


@dataclass
class KeptDay:
    day: date
    events: int
    reasons: tuple[str, ...]


@dataclass
class RetentionResult:
    plan: RetentionPlan
    dry_run: bool
    events_deleted: int = 0
    event_keys_deleted: int = 0
    sessions_deleted: int = 0
    sessions_to_delete: int = 0
    hourly_stats_deleted: int = 0  # hourly statistics live as long as their raw events
    days_dropped: list[date] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    # Days the guard kept, plus days that changed while retention ran.
    days_kept: list[KeptDay] = field(default_factory=list)
    oldest_remaining_day: date | None = None
    sessions_before: date | None = None
    size_before: dict[str, int] = field(default_factory=dict)
    size_after: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    guard_seconds: float = 0.0  # gathering the facts and planning
    events_seconds: float = 0.0  # dropping partitions / deleting event batches
    sessions_seconds: float = 0.0
    sql_files: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures for metadata, the CLI and the benchmark."""
        return {
            "dry_run": self.dry_run,
            "retention_days": self.plan.retention_days,
            "cutoff": self.plan.cutoff.isoformat(),
            "events_deleted": self.events_deleted,
            "events_to_delete": self.plan.events_to_delete,
            "event_keys_deleted": self.event_keys_deleted,
            "sessions_deleted": self.sessions_deleted,
            "sessions_to_delete": self.sessions_to_delete,
            "hourly_stats_deleted": self.hourly_stats_deleted,
            "sessions_before": (self.sessions_before or self.plan.sessions_before).isoformat(),
            "days_dropped": [d.isoformat() for d in self.days_dropped],
            "days_to_drop": [d.isoformat() for d in self.plan.days_to_drop],
            "days_kept": [
                {"day": k.day.isoformat(), "events": k.events, "reasons": list(k.reasons)}
                for k in self.days_kept
            ],
            "oldest_remaining_day": self.oldest_remaining_day.isoformat() if self.oldest_remaining_day else None,
            "size_before": self.size_before,
            "size_after": self.size_after,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "guard_seconds": round(self.guard_seconds, 3),
            "events_seconds": round(self.events_seconds, 3),
            "sessions_seconds": round(self.sessions_seconds, 3),
        }


# -- gathering the facts ---------------------------------------------------------------------
def gather_days(warehouse: Warehouse, cutoff: date,
                websites: WebsiteDirectory | None = None) -> tuple[dict[date, list[WebsiteDay]], int]:
    """Raw days before ``cutoff`` with, per website, the statistics rows covering them; and the
    highest ``batch_id`` among those events (later batches were not seen by the plan). Days are
    each website's local days when some website is not at UTC."""
    websites = websites if websites is not None else current_websites()
    if websites.all_utc:
        raw = warehouse.query("select_retention_event_days", {"cutoff": warehouse.ts(midnight(cutoff))})
    else:
        raw = raw_local_days(warehouse, cutoff, websites)
    daily = {
        (r["website_id"], Warehouse.to_date(r["day"])): r
        for r in warehouse.query("select_retention_daily_stats", {"cutoff": warehouse.day(cutoff)})
    }
    periods: dict[str, dict[tuple[str, date], datetime | None]] = {}
    for grain, table in (("week", "weekly_stats"), ("month", "monthly_stats")):
        rows = warehouse.query("select_retention_period_stats", {"cutoff": warehouse.day(cutoff)}, table=table)
        periods[grain] = {
            (r["website_id"], Warehouse.to_date(r["period_start"])): Warehouse.to_datetime(r["computed_at"])
            for r in rows
        }
    days: dict[date, list[WebsiteDay]] = defaultdict(list)
    max_batch_id = 0
    for r in raw:
        day = Warehouse.to_date(r["day"])
        site = r["website_id"]
        stats = daily.get((site, day))
        max_batch_id = max(max_batch_id, int(r["max_batch_id"]))
        days[day].append(
            WebsiteDay(
                website_id=site,
                events=int(r["events"]),
                last_ingested_at=Warehouse.to_datetime(r["last_ingested_at"]),
                daily_events=int(stats["events"]) if stats else None,
                daily_computed_at=Warehouse.to_datetime(stats["computed_at"]) if stats else None,
                weekly_computed_at=periods["week"].get((site, period_start("week", day))),
                monthly_computed_at=periods["month"].get((site, period_start("month", day))),
            )
        )
    if warehouse.is_postgres and websites.all_utc:
        for row in warehouse.query("select_retention_partitions"):
            day = partition_day(row["partition"])
            if day < cutoff:
                days.setdefault(day, [])  # an empty partition is dropped too
    return dict(days), max_batch_id


def dirty_marks(warehouse: Warehouse, cutoff: date) -> set[tuple[str, date]]:
    rows = warehouse.query("select_retention_dirty_marks", {"cutoff": warehouse.day(cutoff)})
    return {(r["grain"], Warehouse.to_date(r["period_start"])) for r in rows}


def table_sizes(warehouse: Warehouse) -> dict[str, int]:
    rows = warehouse.query("select_retention_table_sizes")
    return {k: int(v or 0) for k, v in rows[0].items()} if rows else {}


def oldest_remaining_day(warehouse: Warehouse) -> date | None:
    """The first UTC day that still has raw events."""
    if warehouse.is_sqlite:
        rows = warehouse.query("select_retention_oldest_event")
        return Warehouse.to_date(rows[0]["oldest"]) if rows and rows[0]["oldest"] else None
    for row in warehouse.query("select_retention_partitions"):
        has = warehouse.query("select_retention_partition_has_rows", partition=row["partition"])
        if has and has[0]["has_rows"]:
            return partition_day(row["partition"])
    return None


def build_plan(
    warehouse: Warehouse,
    *,
    today: date,
    retention_days: int,
    materialized: Mapping[str, Iterable[str]],
    websites: WebsiteDirectory | None = None,
) -> tuple[RetentionPlan, int]:
    """The plan for ``today`` and the highest batch id it saw."""
    cutoff = today - timedelta(days=retention_days)
    days, max_batch_id = gather_days(warehouse, cutoff, websites)
    plan = plan_retention(today, retention_days, days, materialized, dirty_marks(warehouse, cutoff))
    return plan, max_batch_id


# -- executing ---------------------------------------------------------------------------------
def run_retention(
    warehouse: Warehouse,
    *,
    materialized: Mapping[str, Iterable[str]],
    retention_days: int,
    batch_size: int = 1000,
    today: date | None = None,
    dry_run: bool = False,
    pause_seconds: float = DEFAULT_PAUSE_SECONDS,
    log: Callable[[str], None] = print,
    run_id: str | None = None,
    websites: WebsiteDirectory | None = None,
) -> RetentionResult:
    """Plan and (unless ``dry_run``) apply retention. ``materialized`` maps each grain
    (``day``/``week``/``month``) to the materialized partition keys of its statistics asset.
    With websites in other zones than UTC, days are local days (:mod:`.local_days`)."""
    started = time.perf_counter()
    today = today or datetime.now(timezone.utc).date()
    websites = websites if websites is not None else current_websites()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    plan, max_batch_id = build_plan(
        warehouse, today=today, retention_days=retention_days, materialized=materialized, websites=websites
    )
    # Sessions go when their last activity is before every website's first kept local day.
    sessions_cut = (midnight if websites.all_utc else (lambda day: earliest_midnight(websites, day)))
    result = RetentionResult(plan=plan, dry_run=dry_run, guard_seconds=time.perf_counter() - started)
    result.sql_files = ["select_retention_event_days", "select_retention_daily_stats",
                        "select_retention_period_stats", "select_retention_dirty_marks"]
    result.days_kept = [KeptDay(d.day, d.events, d.reasons) for d in plan.days_kept]
    result.sessions_before = plan.sessions_before
    result.sessions_to_delete = int(warehouse.query(
        "count_retention_sessions", {"before": warehouse.ts(sessions_cut(plan.sessions_before))})[0]["sessions"])
    result.size_before = table_sizes(warehouse)

    mode = "Dry run: would archive" if dry_run else "Archiving"
    log(f"{LOG_PREFIX} Starting data retention job{' (dry run)' if dry_run else ''}...")
    log(f"{LOG_PREFIX} {mode} events older than {plan.cutoff} ({retention_days} days)")
    log(f"{LOG_PREFIX} Found {plan.events_to_delete:,} event(s) on {len(plan.days_to_drop)} day(s) to archive")
    for kept in plan.days_kept:
        log(f"{LOG_PREFIX} Keeping {kept.day} ({kept.events:,} events): " + "; ".join(kept.reasons))

    if not dry_run:
        phase = time.perf_counter()
        if not websites.all_utc:
            delete_local_days(warehouse, plan, result, websites, max_batch_id=max_batch_id, batch_size=batch_size,
                              pause_seconds=pause_seconds, log=lambda m: log(f"{LOG_PREFIX} {m}"), run_id=run_id,
                              record=_record_dropped, kept=KeptDay)
        elif warehouse.is_postgres:
            _drop_partitions(warehouse, plan, result, log=log, run_id=run_id)
        else:
            _delete_batches(warehouse, plan, result, max_batch_id=max_batch_id, batch_size=batch_size,
                            pause_seconds=pause_seconds, log=log, run_id=run_id)
        result.events_seconds = time.perf_counter() - phase
        phase = time.perf_counter()
        # A day kept while deleting (a late event) also holds its sessions back.
        result.sessions_before = min([plan.sessions_before, *(k.day for k in result.days_kept)])
        result.sessions_deleted = _delete_sessions(
            warehouse, warehouse.ts(sessions_cut(result.sessions_before)), result,
            batch_size=batch_size if warehouse.is_sqlite else max(batch_size, PG_SESSION_BATCH),
            pause_seconds=pause_seconds if warehouse.is_sqlite else 0.0,
        )
        result.sessions_seconds = time.perf_counter() - phase
        # Hourly statistics are kept for the retention period: they go with the raw events.
        result.hourly_stats_deleted = warehouse.run(
            "delete_old_hourly_stats", {"before": warehouse.ts(midnight(result.sessions_before))})
        result.sql_files.append("delete_old_hourly_stats")
        result.size_after = table_sizes(warehouse)
        log(f"{LOG_PREFIX} ✅ Archived {result.events_deleted:,} old event(s) from "
            f"{len(result.days_dropped)} day(s) (kept daily, weekly and monthly stats)")
        log(f"{LOG_PREFIX} ✅ Archived {result.sessions_deleted:,} old session(s) "
            f"(last activity before {result.sessions_before})")
        log(f"{LOG_PREFIX} ✅ Deleted {result.hourly_stats_deleted:,} hourly statistics row(s) before {result.sessions_before}")
    else:
        result.size_after = dict(result.size_before)
        log(f"{LOG_PREFIX} Dry run: would archive {result.sessions_to_delete:,} old session(s) "
            f"(last activity before {plan.sessions_before}); nothing was deleted")
    result.oldest_remaining_day = oldest_remaining_day(warehouse)
    result.seconds = time.perf_counter() - started
    log(f"{LOG_PREFIX} ✅ Data retention job completed successfully in {result.seconds:.2f}s")
    return result


def _record_dropped(conn: Any, warehouse: Warehouse, day: date, events: int, run_id: str | None) -> None:
    conn.execute(
        warehouse.sql("insert_retention_dropped_day"),
        {"day": warehouse.day(day), "events": events,
         "dropped_at": warehouse.ts(datetime.now(timezone.utc)), "run_id": run_id},
    )


class _DayChanged(Exception):
    def __init__(self, found: int) -> None:
        super().__init__(found)
        self.found = found


def _drop_partitions(warehouse: Warehouse, plan: RetentionPlan, result: RetentionResult, *,
                     log: Callable[[str], None], run_id: str | None) -> None:
    """One transaction per day: lock the partition, check it still holds exactly the events the
    guard approved, delete the day's idempotency keys, drop the partition, record the day."""
    result.sql_files += ["lock_retention_partition", "count_retention_partition",
                         "set_retention_key_probes", "delete_old_event_keys", "drop_event_partition",
                         "insert_retention_dropped_day"]
    planned = {d.day: d.events for d in plan.decisions if d.delete}
    total = plan.events_to_delete
    for day, expected in planned.items():
        name = partition_name(day)
        try:
            with warehouse.begin() as conn:
                conn.execute(warehouse.sql("lock_retention_partition", partition=name))
                found = conn.execute(warehouse.sql("count_retention_partition", partition=name)).scalar_one()
                if found != expected:
                    raise _DayChanged(found)
                conn.execute(warehouse.sql("set_retention_key_probes"))
                keys = conn.execute(warehouse.sql("delete_old_event_keys", partition=name)).rowcount
                conn.execute(warehouse.sql("drop_event_partition", partition=name))
                _record_dropped(conn, warehouse, day, found, run_id)
        except _DayChanged as changed:
            # Events landed after the plan was made: the day's statistics are stale now.
            reason = f"events changed during retention ({expected} planned, {changed.found} now)"
            result.days_kept.append(KeptDay(day, changed.found, (reason,)))
            log(f"{LOG_PREFIX} Keeping {day}: {reason}")
            continue
        result.events_deleted += found
        result.event_keys_deleted += keys
        result.days_dropped.append(day)
        result.partitions_dropped.append(name)
        log(f"{LOG_PREFIX} Dropped partition {name}: {found:,} events "
            f"({result.events_deleted:,}/{total:,})")


def _delete_batches(warehouse: Warehouse, plan: RetentionPlan, result: RetentionResult, *,
                    max_batch_id: int, batch_size: int, pause_seconds: float,
                    log: Callable[[str], None], run_id: str | None) -> None:
    """Delete the approved days in batches of ``batch_size`` rows, pausing between batches so
    readers and the ingestion writer get the database in between."""
    result.sql_files += ["delete_old_events_batch", "count_retention_events", "insert_retention_dropped_day"]
    total = plan.events_to_delete
    planned = {d.day: d.events for d in plan.decisions if d.delete}
    for start, end in contiguous_ranges(planned):
        params = {"start": warehouse.ts(midnight(start)), "end": warehouse.ts(midnight(end)),
                  "max_batch_id": max_batch_id, "batch_size": batch_size}
        delete_in_batches(lambda: warehouse.run("delete_old_events_batch", params), result, total,
                          batch_size, pause_seconds, log, LOG_PREFIX + " Deleted batch of {deleted} events")
        day = start
        while day < end:
            left = warehouse.query("count_retention_events", {
                "start": warehouse.ts(midnight(day)), "end": warehouse.ts(midnight(day + timedelta(days=1)))
            })[0]["events"]
            # The planned events are gone either way, so the day is recorded as dropped (its
            # statistics must not be rebuilt from what is left); events loaded meanwhile stay.
            with warehouse.begin() as conn:
                _record_dropped(conn, warehouse, day, planned[day], run_id)
            result.days_dropped.append(day)
            if left:
                reason = (f"{left} event(s) loaded while retention ran are not in its statistics "
                          "and were left in place")
                result.days_kept.append(KeptDay(day, int(left), (reason,)))
                log(f"{LOG_PREFIX} Keeping part of {day}: {reason}")
            day += timedelta(days=1)


def _delete_sessions(warehouse: Warehouse, before: Any, result: RetentionResult, *,
                     batch_size: int, pause_seconds: float) -> int:
    result.sql_files += ["count_retention_sessions", "delete_old_sessions_batch"]
    deleted_total = 0
    while True:
        deleted = warehouse.run("delete_old_sessions_batch", {"before": before, "batch_size": batch_size})
        deleted_total += deleted
        if deleted < batch_size:
            return deleted_total
        if pause_seconds:
            time.sleep(pause_seconds)


def dropped_days(warehouse: Warehouse) -> list[date]:
    """Every UTC day whose raw events retention deleted: statistics of the periods containing
    them must never be rebuilt from the raw events that are left."""
    return [Warehouse.to_date(r["day"]) for r in warehouse.query("select_retention_dropped_days")]
