"""Dagster wiring of sessions: the ``sessions`` asset, its check, and the seed's cleanup schedule."""

from datetime import datetime, timezone

import dagster as dg

from analytics_pipeline.orchestration import (
    OWNER,
    job_tags,
    markdown_table,
    non_overlapping_schedule,
    warehouse_kind,
)
from analytics_pipeline.resources import PipelineSettings, WarehouseResource
from analytics_pipeline.sessions.build import overdue_open_sessions, update_sessions

SESSIONS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("session_id", "text", constraints=dg.TableColumnConstraints(nullable=False, unique=True)),
        dg.TableColumn("website_id", "text", description="of the session's first event"),
        dg.TableColumn("visitor_id", "text", description="of the session's first event"),
        dg.TableColumn("started_at", "timestamp", description="first event (UTC)"),
        dg.TableColumn("last_activity_at", "timestamp", description="last event (UTC)"),
        dg.TableColumn("ended_at", "timestamp", description="= last_activity_at once closed; null while open"),
        dg.TableColumn("duration_seconds", "integer", description="whole seconds started -> last activity; null while open"),
        dg.TableColumn("pageviews", "integer"),
        dg.TableColumn("events", "integer"),
        dg.TableColumn("entry_path", "text", description="first pageview's path"),
        dg.TableColumn("exit_path", "text", description="last pageview's path"),
        dg.TableColumn("referrer", "text", description="first event's normalised referrer; null = direct"),
        dg.TableColumn("is_bounce", "boolean", description="exactly one pageview"),
    ]
)


@dg.asset(
    group_name="sessions",
    deps=["raw_events"],
    kinds={"sql", warehouse_kind()},
    owners=[OWNER],
    description=(
        "One row per session_id, rebuilt from the events ingested since the last "
        "materialization (a batch watermark, not a rescan). A session inactive for longer than "
        "ANALYTICS_SESSION_TIMEOUT_MINUTES is closed; a late event re-opens and extends it. "
        "Marks the statistics periods it changed so late data re-aggregates them."
    ),
    metadata={"dagster/column_schema": SESSIONS_SCHEMA, "dagster/table_name": "sessions"},
    check_specs=[
        dg.AssetCheckSpec(
            "no_overdue_open_sessions", asset="sessions",
            description="After cleanup no session is open longer than the timeout.",
        )
    ],
)
def sessions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettings
) -> dg.MaterializeResult:
    wh = warehouse.get()
    now = datetime.now(timezone.utc)
    result = update_sessions(wh, timeout_minutes=pipeline.session_timeout_minutes, now=now)
    context.log.info(
        f"took in batches {result.after_batch + 1}..{result.upto_batch}: "
        f"{result.sessions_rebuilt} session(s) rebuilt, {result.sessions_closed} inactive session(s) closed, "
        f"{len(result.dirty_days)} day(s) marked for re-aggregation"
    )
    totals = wh.query("count_sessions")[0]
    overdue = overdue_open_sessions(wh, timeout_minutes=pipeline.session_timeout_minutes, now=now)
    preview = wh.query("select_recent_sessions")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(totals["sessions"] or 0),
            "open_sessions": int(totals["open_sessions"] or 0),
            "sessions_rebuilt": result.sessions_rebuilt,
            "sessions_closed": result.sessions_closed,
            "batches": f"{result.after_batch + 1}..{result.upto_batch}" if result.upto_batch > result.after_batch else "none new",
            "days_marked_for_reaggregation": sorted(d.isoformat() for d in result.dirty_days),
            "duration_seconds": round(result.seconds, 3),
            "preview": dg.MetadataValue.md(markdown_table(preview)),
            "sql": dg.MetadataValue.md(f"```sql\n{wh.sql_text('upsert_touched_sessions')}\n```"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_overdue_open_sessions",
                passed=overdue == 0,
                metadata={"overdue_open_sessions": overdue,
                          "timeout_minutes": pipeline.session_timeout_minutes},
            )
        ],
    )


sessions_job = dg.define_asset_job(
    "sessions_job",
    selection=dg.AssetSelection.assets(sessions),
    description="Bring sessions up to date and close the inactive ones (session cleanup).",
    tags=job_tags("sessions_job"),
)

session_cleanup_schedule = non_overlapping_schedule(
    sessions_job,
    "*/10 * * * *",
    name="session_cleanup_schedule",
    description="Session cleanup, every 10 minutes.",
)

defs = dg.Definitions(assets=[sessions], jobs=[sessions_job], schedules=[session_cleanup_schedule])
