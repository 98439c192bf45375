"""Dagster wiring of ingestion: the ``raw_events`` asset, the ingest job and the landing sensor."""

import hashlib
import json

import dagster as dg

from analytics_pipeline.ingestion.run import ingest_landing, pending_files
from analytics_pipeline.orchestration import (
    OWNER,
    SINGLETON_TAG,
    job_tags,
    markdown_table,
    skip_if_running,
    warehouse_kind,
)
from analytics_pipeline.resources import PipelineSettings, WarehouseResource

EVENTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("event_id", "text", description="idempotency key; first one wins",
                       constraints=dg.TableColumnConstraints(nullable=False, unique=True)),
        dg.TableColumn("website_id", "text"),
        dg.TableColumn("session_id", "text"),
        dg.TableColumn("visitor_id", "text", description="anonymous visitor or user id"),
        dg.TableColumn("event_type", "text", description="'pageview' or 'custom'"),
        dg.TableColumn("event_name", "text", description="custom events only"),
        dg.TableColumn("url_path", "text"),
        dg.TableColumn("referrer", "text", description="normalised host; null = direct"),
        dg.TableColumn("occurred_at", "timestamp", description="UTC"),
        dg.TableColumn("properties", "json"),
        dg.TableColumn("ingested_at", "timestamp"),
        dg.TableColumn("source_file", "text"),
        dg.TableColumn("batch_id", "integer", description="ingestion chunk; sessions' watermark"),
    ]
)


@dg.asset(
    group_name="ingestion",
    kinds={"python", warehouse_kind()},
    owners=[OWNER],
    description=(
        "Accepted analytics events: one row per event_id, loaded exactly once from the files "
        "dropped in the landing directory. Every rejected line is kept in "
        "rejected_events with its reason; processed files move to landing/processed/."
    ),
    metadata={"dagster/column_schema": EVENTS_SCHEMA, "dagster/table_name": "events"},
)
def raw_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettings
) -> dg.MaterializeResult:
    """Ingest every pending landing file."""
    result = ingest_landing(warehouse.get(), pipeline.landing_path, log=context.log.info)
    context.log.info(
        f"ingested {len(result.files)} file(s): {result.lines} lines, {result.loaded} loaded, "
        f"{result.duplicates} duplicates, {result.rejected} rejected in {result.seconds:.2f}s"
    )
    top_reasons = [{"reason": r, "lines": n} for r, n in result.reasons.most_common(10)]
    per_day = [{"day": d, "events": n} for d, n in sorted(result.events_by_day.items())]
    files = [
        {"file": f.name, "status": f.status, "lines": f.lines, "loaded": f.loaded,
         "duplicates": f.duplicates, "rejected": f.rejected}
        for f in result.files
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.loaded,
            "files": len(result.files),
            "lines": result.lines,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "duration_seconds": round(result.seconds, 3),
            "events_per_second": round(result.events_per_second, 1),
            "days_touched": sorted(result.events_by_day),
            "files_preview": dg.MetadataValue.md(markdown_table(files)),
            "top_rejection_reasons": dg.MetadataValue.md(markdown_table(top_reasons)),
            "events_per_day": dg.MetadataValue.md(markdown_table(per_day, limit=400)),
        }
    )


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets("raw_events", "sessions"),
    description="Ingest pending landing files, then bring sessions up to date.",
    tags=job_tags("ingest_job"),
)


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches ingest_job when event files appear in the landing directory; never "
    "while an ingestion run is still going. Cursor: the file set last launched for.",
)
def landing_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineSettings):
    files = pending_files(pipeline.landing_path)
    if not files:
        return dg.SkipReason(f"no pending files in {pipeline.landing_path}")
    fingerprint = json.dumps(sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files))
    if fingerprint == context.cursor:
        return dg.SkipReason(
            f"{len(files)} file(s) still pending were already launched for; waiting for new files"
        )
    skip = skip_if_running(context.instance, ingest_job.name)
    if skip is not None:
        return skip
    context.update_cursor(fingerprint)
    return dg.RunRequest(
        run_key="landing:" + hashlib.sha1(fingerprint.encode()).hexdigest()[:16],
        tags={SINGLETON_TAG: ingest_job.name, "analytics/trigger": "landing_sensor",
              "analytics/files": str(len(files))},
    )


defs = dg.Definitions(assets=[raw_events], jobs=[ingest_job], sensors=[landing_sensor])
