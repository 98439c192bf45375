"""Dagster wiring of ingestion: the ``raw_events`` asset, the ingest job and the landing sensor."""

import hashlib
import json
import time

import dagster as dg

from analytics_pipeline.ingestion.relaunch import MAX_LAUNCHES, LandingCursor, decide
from analytics_pipeline.ingestion.run import UNUSABLE_REJECTED_SHARE, ingest_landing, pending_file_stats
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
    check_specs=[dg.AssetCheckSpec(
        "landing_files_usable", asset="raw_events",
        description=(f"Fails naming every file of this ingestion that was unusable: a CSV header "
                     f"lacking a required column, or more than {UNUSABLE_REJECTED_SHARE:.0%} of its "
                     "non-blank lines rejected. Such a file is finished and moved like any other "
                     "(never retried); the ledger keeps the reason."),
    )],
)
def raw_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettings
) -> dg.MaterializeResult:
    """Ingest every pending landing file."""
    result = ingest_landing(warehouse.get(), pipeline.landing_path, log=context.log.info,
                            start_date=pipeline.first_day)
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
    problems = [{"file": f.name, "problem": f.problem} for f in result.problems]
    for item in problems:
        context.log.error(f"unusable landing file {item['file']}: {item['problem']}")
    check = dg.AssetCheckResult(
        check_name="landing_files_usable",
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=("; ".join(f"{p['file']}: {p['problem']}" for p in problems)[:2000] if problems
                     else f"all {len(result.files)} file(s) usable"),
        metadata={"unusable_files": len(problems), "files": len(result.files),
                  "unusable_preview": dg.MetadataValue.md(markdown_table(problems))},
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "dagster/row_count": result.loaded,
            "files": len(result.files),
            "unusable_files": len(problems),
            "lines": result.lines,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "duration_seconds": round(result.seconds, 3),
            "events_per_second": round(result.events_per_second, 1),
            "cpu_seconds_by_stage": {stage: round(cpu, 3) for stage, cpu in result.stage_cpu.items()},
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
    "while an ingestion run is still going. When a run ends and the same files are still "
    f"pending (it failed), launches them again after 1, 2, 4, 8, 16 minutes, then gives up "
    f"after {MAX_LAUNCHES} launches and says so here. Cursor: the file set last launched for, "
    "how many times, and when.",
)
def landing_sensor(context: dg.SensorEvaluationContext, pipeline: PipelineSettings):
    files = pending_file_stats(pipeline.landing_path)
    if not files:
        return dg.SkipReason(f"no pending files in {pipeline.landing_path}")
    fingerprint = json.dumps(sorted((p.name, s.st_size, int(s.st_mtime)) for p, s in files))
    cursor = LandingCursor.loads(context.cursor)
    skip = skip_if_running(context.instance, ingest_job.name)
    if skip is not None:
        return skip
    records = context.instance.get_run_records(dg.RunsFilter(job_name=ingest_job.name), limit=1)
    last = records[0] if records else None
    ended = last.end_time if last is not None else None
    now = time.time()
    decision = decide(cursor, fingerprint, ended, now)
    last_run = (f"last run {last.dagster_run.run_id[:8]} ended {last.dagster_run.status.value.lower()}"
                if last is not None else "no run recorded")
    if decision.action == "give_up":
        return dg.SkipReason(
            f"gave up: {len(files)} file(s) are still pending after {cursor.launches} launches "
            f"({last_run}); fix the cause in that run's log, then drop a new file or reset this "
            "sensor's cursor to try again"
        )
    if decision.action == "wait":
        return dg.SkipReason(
            f"{len(files)} file(s) still pending were already launched for ({cursor.launches} of "
            f"{MAX_LAUNCHES} launches; {last_run}); launching again in {decision.seconds_left:.0f}s"
        )
    launches = cursor.launches + 1 if fingerprint == cursor.fingerprint else 1
    context.update_cursor(LandingCursor(fingerprint, launches, now).dumps())
    digest = hashlib.sha1(fingerprint.encode()).hexdigest()[:16]
    return dg.RunRequest(
        # A relaunch needs a run key of its own: Dagster drops a request whose key it has seen.
        run_key=f"landing:{digest}" + (f":{launches}" if launches > 1 else ""),
        tags={SINGLETON_TAG: ingest_job.name, "analytics/trigger": "landing_sensor",
              "analytics/files": str(len(files)), "analytics/launch": str(launches)},
    )


defs = dg.Definitions(assets=[raw_events], jobs=[ingest_job], sensors=[landing_sensor])
