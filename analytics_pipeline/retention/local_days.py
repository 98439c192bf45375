"""Retention in websites' local days, used when some website's time zone is not UTC.

A website's local day is never cut in half: the guard decides per local day D (the plan in
:mod:`analytics_pipeline.retention.plan` is the same, its days are local dates), and deleting
D removes, for each time zone's websites, exactly the events in that zone's
``[local midnight D, local midnight D+1)``. On PostgreSQL the events are partitioned by UTC day
and a UTC day holds parts of two local days of most zones, so rows are deleted (with their
``event_keys``) one statement per zone and range of days, and a UTC partition is dropped once
it is empty and ends before every zone's first kept local day. SQLite deletes in batches as it
does for UTC days. The day recorded in ``retention_dropped_days`` is the local date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from analytics_pipeline.retention.batches import delete_in_batches
from analytics_pipeline.retention.plan import RetentionPlan, contiguous_ranges
from analytics_pipeline.stats.zones import group_params, zone_query, zone_sql
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, bucket_day, bucket_start, local_midnight, zone_groups, zones_in_use


def latest_midnight(websites: WebsiteDirectory, day: date) -> datetime:
    """The last zone's local midnight of ``day``: every event of a local day before ``day`` is earlier."""
    return max(local_midnight(z, day) for z in zones_in_use(websites))


def earliest_midnight(websites: WebsiteDirectory, day: date) -> datetime:
    """The first zone's local midnight of ``day``: everything earlier is before ``day`` everywhere."""
    return min(local_midnight(z, day) for z in zones_in_use(websites))


def raw_local_days(warehouse: Warehouse, cutoff: date, websites: WebsiteDirectory) -> list[dict[str, Any]]:
    """Raw events of local days before ``cutoff`` per (local day, website), in the shape of
    ``select_retention_event_days``: day, website_id, events, last_ingested_at, max_batch_id."""
    rows = warehouse.query("select_retention_event_buckets",
                           {"cutoff": warehouse.ts(latest_midnight(websites, cutoff))})
    out: dict[tuple[date, str], dict[str, Any]] = {}
    for r in rows:
        day = bucket_day(websites, r["website_id"], bucket_start(r["bucket"]))
        if day >= cutoff:
            continue
        item = out.setdefault((day, r["website_id"]), {"day": day, "website_id": r["website_id"], "events": 0,
                                                       "last_ingested_at": None, "max_batch_id": 0})
        item["events"] += int(r["events"])
        at = Warehouse.to_datetime(r["last_ingested_at"])
        if at is not None and (item["last_ingested_at"] is None or at > item["last_ingested_at"]):
            item["last_ingested_at"] = at
        item["max_batch_id"] = max(item["max_batch_id"], int(r["max_batch_id"]))
    return [out[k] for k in sorted(out)]


def delete_local_days(warehouse: Warehouse, plan: RetentionPlan, result: Any, websites: WebsiteDirectory, *,
                      max_batch_id: int, batch_size: int, pause_seconds: float,
                      log: Callable[[str], None], run_id: str | None,
                      record: Callable[[Any, Warehouse, date, int, str | None], None], kept: type) -> None:
    """Delete the approved local days, zone by zone; record each day; on PostgreSQL drop the UTC
    partitions left empty before every zone's first kept day."""
    name = "delete_old_zone_events_batch" if warehouse.is_sqlite else "delete_old_zone_events"
    probes = [] if warehouse.is_sqlite else ["set_retention_key_probes"]
    result.sql_files += ["select_retention_event_buckets", *probes, name, "count_retention_zone_events",
                         "insert_retention_dropped_day"]
    planned = {d.day: d.events for d in plan.decisions if d.delete}
    total = plan.events_to_delete
    groups = zone_groups(websites)
    for start, end in contiguous_ranges(planned):
        for group in groups:
            params = {**group_params(warehouse, group, start, end), "max_batch_id": max_batch_id}
            if warehouse.is_postgres:
                with warehouse.begin() as conn:
                    conn.execute(warehouse.sql("set_retention_key_probes"))
                    row = conn.execute(zone_sql(warehouse, name), params).one()
                result.events_deleted += int(row.events)
                result.event_keys_deleted += int(row.event_keys)
                log(f"Deleted {int(row.events):,} events of {group.timezone} days {start}..{end - timedelta(days=1)} "
                    f"({result.events_deleted:,}/{total:,})")
                continue

            def delete_batch(params: dict[str, Any] = params) -> int:
                with warehouse.begin() as conn:
                    return conn.execute(zone_sql(warehouse, name), {**params, "batch_size": batch_size}).rowcount

            delete_in_batches(delete_batch, result, total, batch_size, pause_seconds, log,
                              f"Deleted batch of {{deleted}} events of {group.timezone}")
        day = start
        while day < end:
            left = sum(int(zone_query(warehouse, "count_retention_zone_events",
                                           group_params(warehouse, g, day, day + timedelta(days=1)))[0]["events"])
                       for g in groups)
            with warehouse.begin() as conn:
                record(conn, warehouse, day, planned[day], run_id)
            result.days_dropped.append(day)
            if left:
                reason = f"{left} event(s) loaded while retention ran are not in its statistics and were left in place"
                result.days_kept.append(kept(day, left, (reason,)))
                log(f"Keeping part of {day}: {reason}")
            day += timedelta(days=1)
    if warehouse.is_postgres:
        _drop_empty_partitions(warehouse, result, earliest_midnight(websites, plan.sessions_before), log)


def _drop_empty_partitions(warehouse: Warehouse, result: Any, before: datetime, log: Callable[[str], None]) -> None:
    from analytics_pipeline.retention.run import partition_day

    result.sql_files += ["select_retention_partition_has_rows", "drop_event_partition"]
    for row in warehouse.query("select_retention_partitions"):
        day = partition_day(row["partition"])
        if datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc) > before:
            continue
        with warehouse.begin() as conn:
            conn.execute(warehouse.sql("lock_retention_partition", partition=row["partition"]))
            if conn.execute(warehouse.sql("select_retention_partition_has_rows", partition=row["partition"])).scalar_one():
                continue
            conn.execute(warehouse.sql("drop_event_partition", partition=row["partition"]))
        result.partitions_dropped.append(row["partition"])
        log(f"Dropped empty partition {row['partition']}")
