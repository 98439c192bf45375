"""Dagster wiring of retention: ``retention_job`` (one op) on the seed's Sunday 02:00 UTC schedule.

It is a job, not an asset: it produces nothing downstream, and "materialize all" must never
delete data. Its figures are the op's output metadata, and an observation on ``raw_events``
records each run in the asset's history.
"""

from datetime import datetime, timezone

import dagster as dg

from analytics_pipeline.orchestration import (
    job_tags,
    markdown_table,
    non_overlapping_schedule,
)
from analytics_pipeline.resources import PipelineSettings, WarehouseResource
from analytics_pipeline.retention.housekeeping import HousekeepingPolicy, HousekeepingResult, purge_operational
from analytics_pipeline.retention.plan import GRAINS, STATS_ASSET
from analytics_pipeline.retention.run import DEFAULT_PAUSE_SECONDS, RetentionResult, run_retention


class RetentionConfig(dg.Config):
    dry_run: bool = False
    """Report what would be deleted and delete nothing."""
    pause_seconds: float = DEFAULT_PAUSE_SECONDS
    """Pause between SQLite delete batches."""


def materialized_partitions(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """Per grain, the partition keys of its statistics asset that have a materialization."""
    return {
        grain: instance.get_materialized_partitions(dg.AssetKey(STATS_ASSET[grain]))
        for grain in GRAINS
    }


def retention_metadata(result: RetentionResult, database: str,
                       housekeeping: HousekeepingResult | None = None) -> dict[str, dg.MetadataValue | object]:
    summary = result.summary()
    kept_rows = [{"day": k["day"], "events": k["events"], "reasons": "; ".join(k["reasons"])}
                 for k in summary["days_kept"]]
    plan_rows = [{"day": d.day.isoformat(), "events": d.events,
                  "decision": "delete" if d.delete else "keep", "reasons": "; ".join(d.reasons)}
                 for d in result.plan.decisions]
    metadata: dict[str, object] = {
        "dry_run": result.dry_run,
        "database": database,
        "retention_days": result.plan.retention_days,
        "cutoff": summary["cutoff"],
        "events_deleted": result.events_deleted,
        "events_to_delete": result.plan.events_to_delete,
        "sessions_deleted": result.sessions_deleted,
        "sessions_to_delete": result.sessions_to_delete,
        "sessions_last_activity_before": summary["sessions_before"],
        "days_dropped": len(result.days_dropped),
        "days_dropped_list": dg.MetadataValue.json(
            summary["days_to_drop"] if result.dry_run else summary["days_dropped"]),
        "days_kept_by_guard": len(result.days_kept),
        "days_kept": dg.MetadataValue.md(markdown_table(kept_rows, limit=100)),
        "days_kept_reasons": dg.MetadataValue.json(summary["days_kept"]),
        "oldest_remaining_day": summary["oldest_remaining_day"] or "none",
        "plan_preview": dg.MetadataValue.md(markdown_table(plan_rows, limit=100)),
        "duration_seconds": round(result.seconds, 3),
        "guard_seconds": round(result.guard_seconds, 3),
        "events_seconds": round(result.events_seconds, 3),
        "sessions_seconds": round(result.sessions_seconds, 3),
        "sql_files": dg.MetadataValue.json(result.sql_files),
    }
    if result.partitions_dropped:
        metadata["partitions_dropped"] = dg.MetadataValue.json(result.partitions_dropped)
        metadata["event_keys_deleted"] = result.event_keys_deleted
    if result.batches:
        metadata["delete_batches"] = result.batches
    if housekeeping is not None:
        verb = "to_delete" if housekeeping.dry_run else "deleted"
        metadata.update({
            f"rejected_events_{verb}": housekeeping.rejected_events,
            f"ledger_files_{verb}": housekeeping.ingest_files,
            f"ledger_batches_{verb}": housekeeping.ingest_batches,
            f"alert_history_{verb}": housekeeping.alert_history,
            f"processed_files_{verb}": housekeeping.processed_files,
            f"processed_bytes_{verb}": housekeeping.processed_bytes,
            "housekeeping_cutoffs": dg.MetadataValue.json(housekeeping.cutoffs),
            "housekeeping_seconds": round(housekeeping.seconds, 3),
        })
        metadata["sql_files"] = dg.MetadataValue.json(result.sql_files + housekeeping.sql_files)
    for label, sizes in (("before", result.size_before), ("after", result.size_after)):
        for key, value in sizes.items():
            metadata[f"{key}_{label}"] = dg.MetadataValue.int(value)
    return metadata


@dg.op(
    description=(
        "Delete raw events and sessions older than ANALYTICS_RETENTION_DAYS (days strictly "
        "before today - N, UTC), keeping every day whose daily, weekly or monthly statistics "
        "are missing or stale. PostgreSQL drops day partitions; SQLite deletes in batches. "
        "Statistics are never touched. Then housekeeping: rejected lines, finished ledger rows, "
        "alert history and processed landing files older than their own retention "
        "(ANALYTICS_REJECTED_RETENTION_DAYS, ANALYTICS_LEDGER_RETENTION_DAYS, "
        "ANALYTICS_ALERT_HISTORY_RETENTION_DAYS, ANALYTICS_PROCESSED_RETENTION_DAYS)."
    ),
    tags={"kind": "retention"},
)
def apply_retention(
    context: dg.OpExecutionContext,
    config: RetentionConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> dg.Output[dict]:
    result = run_retention(
        warehouse.get(),
        materialized=materialized_partitions(context.instance),
        retention_days=pipeline.retention_days,
        batch_size=pipeline.retention_batch_size,
        dry_run=config.dry_run,
        pause_seconds=config.pause_seconds,
        log=context.log.info,
        run_id=context.run_id,
    )
    for kept in result.days_kept:
        context.log.warning(f"retention kept {kept.day}: " + "; ".join(kept.reasons))
    housekeeping = purge_operational(
        warehouse.get(),
        pipeline.landing_path,
        HousekeepingPolicy(rejected_days=pipeline.rejected_retention_days,
                           ledger_days=pipeline.ledger_retention_days,
                           alert_history_days=pipeline.alert_history_retention_days,
                           processed_days=pipeline.processed_retention_days),
        now=datetime.now(timezone.utc),
        events_retention_days=pipeline.retention_days,
        dry_run=config.dry_run,
        batch_size=pipeline.retention_batch_size,
        log=context.log.info,
    )
    metadata = retention_metadata(result, warehouse.display_url, housekeeping)
    context.log_event(dg.AssetObservation(
        asset_key="raw_events",
        metadata={k: metadata[k] for k in ("dry_run", "cutoff", "events_deleted", "days_dropped",
                                            "days_kept_by_guard", "oldest_remaining_day")},
    ))
    return dg.Output({**result.summary(), "housekeeping": housekeeping.summary()}, metadata=metadata)


@dg.job(
    description="Weekly data retention: delete old raw events and sessions, never "
    "a day whose statistics are incomplete. Run config `ops: {apply_retention: {config: "
    "{dry_run: true}}}` reports without deleting.",
    tags=job_tags("retention_job"),
)
def retention_job():
    apply_retention()


retention_schedule = non_overlapping_schedule(
    retention_job,
    "0 2 * * 0",
    name="retention_schedule",
    description="Sunday 02:00 UTC: retention of raw events and sessions.",
)

defs = dg.Definitions(jobs=[retention_job], schedules=[retention_schedule])
