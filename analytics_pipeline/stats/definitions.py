"""Dagster wiring of statistics: ``daily_stats``, ``weekly_stats``, ``monthly_stats``, their
jobs, schedules, checks, and the late-data sensor."""

import logging
import time
import warnings
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from analytics_pipeline.orchestration import (
    OWNER,
    REASON_TAG,
    SINGLETON_TAG,
    TRIGGER_TAG,
    active_run,
    job_tags,
    markdown_table,
    non_overlapping_schedule,
    warehouse_kind,
)
from analytics_pipeline.partitions import (
    daily_partitions,
    hourly_partitions,
    monthly_partitions,
    previous_period_start,
    weekly_partitions,
)
from analytics_pipeline.resources import WarehouseResource
from analytics_pipeline.stats.build import GRAIN_TABLES, build_period, frozen_days, read_period
from analytics_pipeline.stats.checks import daily_mismatches, period_pageview_mismatches
from analytics_pipeline.stats.hourly import build_hours, hour_key, previous_hour_key, read_hours
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites, describe, load_websites

log = logging.getLogger(__name__)
GRAIN_ASSET = {"day": "daily_stats", "week": "weekly_stats", "month": "monthly_stats"}
GRAIN_PARTITIONS = {"day": daily_partitions, "week": weekly_partitions, "month": monthly_partitions}
GRAIN_WORD = {"day": "day", "week": "week (Monday to Sunday)", "month": "calendar month"}

# The websites file as the code location loaded it: its problems are logged and shown in the
# definitions metadata and the websites_file_sensor; each run re-reads the file.
WEBSITES = current_websites()
for _problem in WEBSITES.problems:
    log.warning(f"websites file: {_problem}")
    warnings.warn(f"websites file: {_problem}", stacklevel=1)


def _zones_text(directory: WebsiteDirectory) -> str:
    if directory.all_utc and not directory.websites:
        return "Every period is a UTC period (no websites file)."
    listed = ", ".join(f"{w.id} {w.timezone}" for w in sorted(directory.websites.values(), key=lambda w: w.id))
    return (f"Periods are each website's local periods: {listed or 'no website listed'}; every other website "
            f"{directory.default_timezone}.")


def websites_metadata(directory: WebsiteDirectory) -> dict:
    """The websites file as the UI shows it: file, zones, and every problem found in it."""
    problems = [{"file": p.file, "entry": p.field, "problem": p.problem} for p in directory.problems]
    return {
        "websites_file": directory.source,
        "default_timezone": directory.default_timezone,
        "websites": dg.MetadataValue.md(markdown_table(describe(directory), limit=500)),
        "websites_file_problems": dg.MetadataValue.md(markdown_table(problems, limit=500) if problems else "none"),
        "websites_file_problem_count": len(problems),
    }


def stats_schema(key_column: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn("website_id", "text"),
            dg.TableColumn(key_column, "date", description="first day of the period"),
            dg.TableColumn("total_pageviews", "integer", description="pageview events in the period"),
            dg.TableColumn("total_custom_events", "integer", description="custom events in the period"),
            dg.TableColumn("unique_visitors", "integer", description="distinct visitor_id, exact over the period"),
            dg.TableColumn("unique_sessions", "integer", description="distinct session_id with events in the period"),
            dg.TableColumn("top_pages", "json", description='10 paths with most pageviews: [{"item", "count"}], ties by item'),
            dg.TableColumn("top_referrers", "json", description='same over normalised referrers; null shown as "direct"'),
            dg.TableColumn("events_by_type", "json", description='JSON object {"pageview": n, "signup": n, ...}: one key per custom event_name'),
            dg.TableColumn("sessions_started", "integer", description="sessions whose started_at is in the period"),
            dg.TableColumn("bounce_rate", "float", description="share of those sessions with is_bounce; 0.0 when none"),
            dg.TableColumn("avg_session_duration_seconds", "float", description="mean last_activity_at - started_at of those sessions"),
            dg.TableColumn("computed_at", "timestamp"),
        ]
    )


def _preview(rows: list[dict]) -> str:
    return markdown_table(
        [
            {
                "website": r["website_id"],
                "pageviews": r["total_pageviews"],
                "custom": r["total_custom_events"],
                "visitors": r["unique_visitors"],
                "sessions": r["unique_sessions"],
                "bounce": f"{r['bounce_rate']:.1%}",
                "avg duration s": f"{r['avg_session_duration_seconds']:.1f}",
                "top page": (r["top_pages"][0]["item"] if r["top_pages"] else ""),
            }
            for r in rows
        ]
    )


def _build_partitions(context: dg.AssetExecutionContext, wh: Warehouse, grain: str) -> tuple[list[date], int, float]:
    """Build every partition of this run (a backfill range is one run), logging progress and
    recording each partition's own counts, duration and preview on its materialization."""
    keys = context.partition_keys
    websites = current_websites()
    for problem in websites.problems:
        context.log.warning(f"websites file: {problem}")
    started = time.perf_counter()
    rows = 0
    days = [date.fromisoformat(k) for k in keys]
    for i, day in enumerate(days, 1):
        period_started = time.perf_counter()
        dropped = frozen_days(wh, grain, day)
        if dropped:
            context.log.warning(f"{GRAIN_ASSET[grain]} {day}: kept as is: retention deleted the raw events of "
                                f"{', '.join(d.isoformat() for d in dropped)}, so these statistics are final")
        written = build_period(wh, grain, day, websites=websites)
        rows += written
        context.add_asset_metadata(
            _period_metadata(day, written, time.perf_counter() - period_started, read_period(wh, grain, day)),
            partition_key=day.isoformat(),
        )
        if len(days) <= 10 or i % 10 == 0 or i == len(days):
            context.log.info(f"{GRAIN_ASSET[grain]} {day}: {written} website row(s) [{i}/{len(days)}]")
    return days, rows, time.perf_counter() - started


def _stats_sql_name(wh: Warehouse) -> str:
    """The statistics SQL file the build runs (see stats.build.build_period)."""
    if current_websites().all_utc:
        return "insert_period_stats"
    return "insert_local_period_stats" if wh.is_postgres else "insert_zone_period_stats"


def _period_metadata(period: date, written: int, seconds: float, built: list[dict]) -> dict:
    """One partition's own materialization metadata (in a range run too)."""
    return {
        "dagster/row_count": written,
        "period": period.isoformat(),
        "websites": len(built),
        "pageviews": sum(r["total_pageviews"] for r in built),
        "custom_events": sum(r["total_custom_events"] for r in built),
        "duration_seconds": round(seconds, 4),
        "preview": dg.MetadataValue.md(f"**{period}**\n\n" + _preview(built)),
    }


def _stats_asset(grain: str, check_specs: list[dg.AssetCheckSpec], check_fn):
    name = GRAIN_ASSET[grain]
    table, key_column = GRAIN_TABLES[grain]

    @dg.asset(
        name=name,
        group_name="stats",
        deps=["raw_events", "sessions"],
        partitions_def=GRAIN_PARTITIONS[grain],
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"sql", warehouse_kind()},
        owners=[OWNER],
        description=(
            f"One row per website and {GRAIN_WORD[grain]} with events: traffic, exact uniques, top "
            "pages and referrers, events by type, and the sessions started in the period "
            "Computed in SQL; re-materializing a partition replaces it atomically. "
            + _zones_text(WEBSITES)
        ),
        metadata={"dagster/column_schema": stats_schema(key_column), "dagster/table_name": table,
                  **websites_metadata(WEBSITES)},
        check_specs=check_specs,
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh = warehouse.get()
        periods, rows, seconds = _build_partitions(context, wh, grain)
        pending = [m for m in wh.query("select_stats_dirty") if m["grain"] == grain and m["not_before"] is not None
                   and Warehouse.to_date(m["period_start"]) in set(periods)]
        for mark in pending:
            context.log.info(f"{name}: to be completed after {Warehouse.to_datetime(mark['not_before']):%Y-%m-%dT%H:%MZ}: {mark['reason']}")
        context.log.info(f"{name}: {len(periods)} period(s), {rows} row(s) in {seconds:.2f}s")
        # Shared by every partition of the run; each partition's counts and preview are its own
        # (added per partition above).
        return dg.MaterializeResult(
            metadata={
                "run_periods": len(periods),
                "run_first_period": periods[0].isoformat(),
                "run_last_period": periods[-1].isoformat(),
                "run_row_count": rows,
                "run_duration_seconds": round(seconds, 3),
                "incomplete_periods": dg.MetadataValue.md(markdown_table(
                    [{"period": Warehouse.to_date(m["period_start"]).isoformat(), "complete after (UTC)":
                      f"{Warehouse.to_datetime(m['not_before']):%Y-%m-%d %H:%M}", "reason": m["reason"]} for m in pending])
                    if pending else "none: every website's period had ended"),
                "time_zones": _zones_text(current_websites()),
                "sql": dg.MetadataValue.md(
                    "```sql\n" + wh.sql_text(_stats_sql_name(wh), table=table, key_column=key_column) + "\n```"
                ),
            },
            check_results=check_fn(wh, periods),
        )

    return _asset


def _daily_checks(wh: Warehouse, periods: list[date]) -> list[dg.AssetCheckResult]:
    mismatches = daily_mismatches(wh, periods[0], periods[-1])
    return [
        dg.AssetCheckResult(
            check_name="reconciles_with_raw_events",
            passed=not mismatches,
            metadata={"days_checked": len(periods), "mismatches": len(mismatches),
                      "examples": dg.MetadataValue.md(markdown_table(mismatches, limit=10))},
        )
    ]


def _period_checks(grain: str):
    def check(wh: Warehouse, periods: list[date]) -> list[dg.AssetCheckResult]:
        bad = [dict(r, period=p.isoformat()) for p in periods for r in period_pageview_mismatches(wh, grain, p)]
        return [
            dg.AssetCheckResult(
                check_name="pageviews_equal_sum_of_days",
                passed=not bad,
                severity=dg.AssetCheckSeverity.WARN,
                description="Differences usually mean some days' daily_stats are missing or stale.",
                metadata={"periods_checked": len(periods), "mismatches": len(bad),
                          "examples": dg.MetadataValue.md(markdown_table(bad, limit=10))},
            )
        ]

    return check


daily_stats = _stats_asset(
    "day",
    [dg.AssetCheckSpec("reconciles_with_raw_events", asset="daily_stats",
                       description="Pageviews and custom events equal the events table's counts for each day and website.")],
    _daily_checks,
)
weekly_stats = _stats_asset(
    "week",
    [dg.AssetCheckSpec("pageviews_equal_sum_of_days", asset="weekly_stats",
                       description="Weekly pageviews equal the sum of the week's daily_stats.")],
    _period_checks("week"),
)
monthly_stats = _stats_asset(
    "month",
    [dg.AssetCheckSpec("pageviews_equal_sum_of_days", asset="monthly_stats",
                       description="Monthly pageviews equal the sum of the month's daily_stats.")],
    _period_checks("month"),
)


@dg.asset_check(
    asset=daily_stats,
    name="yesterday_is_aggregated",
    description="The 'aggregation is behind' alert: yesterday's daily_stats partition is "
    "materialized (checked at 03:00 UTC by daily_stats_freshness_schedule).",
)
def yesterday_is_aggregated(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    done = context.instance.get_materialized_partitions(dg.AssetKey("daily_stats"))
    latest = max(done) if done else None
    return dg.AssetCheckResult(
        passed=yesterday in done,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if yesterday in done else f"daily_stats for {yesterday} is missing: aggregation is behind",
        metadata={"yesterday": yesterday, "latest_materialized_day": latest or "none"},
    )


def _job(grain: str):
    name = f"{GRAIN_ASSET[grain]}_job"
    # The freshness check is about yesterday, not the partitions being built: a backfill of old
    # days must not record "aggregation is behind". It runs from its own 03:00 schedule.
    selection = dg.AssetSelection.assets(GRAIN_ASSET[grain]) - dg.AssetSelection.checks(yesterday_is_aggregated)
    return dg.define_asset_job(
        name,
        selection=selection,
        partitions_def=GRAIN_PARTITIONS[grain],
        description=f"Build {GRAIN_ASSET[grain]} for the selected partition(s).",
        tags=job_tags(name),
    )


daily_stats_job, weekly_stats_job, monthly_stats_job = _job("day"), _job("week"), _job("month")
daily_stats_freshness_job = dg.define_asset_job(
    "daily_stats_freshness_job",
    selection=dg.AssetSelection.checks(yesterday_is_aggregated),
    description="Check that yesterday's daily statistics exist.",
    tags=job_tags("daily_stats_freshness_job"),
)


def _yesterday(scheduled: datetime) -> str:
    return (scheduled - timedelta(days=1)).date().isoformat()


def _previous(grain: str):
    return lambda scheduled: previous_period_start(grain, scheduled.date()).isoformat()


schedules = [
    non_overlapping_schedule(daily_stats_job, "0 1 * * *", name="daily_aggregation_schedule",
                             description="The daily aggregation: yesterday's daily_stats at 01:00 UTC.",
                             partition_key_fn=_yesterday, catch_up_in_one_run=True),
    non_overlapping_schedule(weekly_stats_job, "30 1 * * 1", name="weekly_aggregation_schedule",
                             description="Last week's weekly_stats, Mondays 01:30 UTC (after the daily one).",
                             partition_key_fn=_previous("week"), catch_up_in_one_run=True),
    non_overlapping_schedule(monthly_stats_job, "45 1 1 * *", name="monthly_aggregation_schedule",
                             description="Last month's monthly_stats, the 1st at 01:45 UTC (after the daily one).",
                             partition_key_fn=_previous("month"), catch_up_in_one_run=True),
    non_overlapping_schedule(daily_stats_freshness_job, "0 3 * * *", name="daily_stats_freshness_schedule",
                             description="At 03:00 UTC, fail visibly when yesterday's daily_stats are missing."),
]

HOURLY_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("website_id", "text"),
    dg.TableColumn("hour_start", "timestamp", description="the UTC hour"),
    dg.TableColumn("total_pageviews", "integer", description="pageview events in the hour"),
    dg.TableColumn("total_custom_events", "integer", description="custom events in the hour"),
    dg.TableColumn("unique_visitors", "integer", description="distinct visitor_id in the hour"),
    dg.TableColumn("unique_sessions", "integer", description="distinct session_id with events in the hour"),
    dg.TableColumn("computed_at", "timestamp"),
])


@dg.asset(
    name="hourly_stats",
    group_name="stats",
    deps=["raw_events"],
    partitions_def=hourly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"sql", warehouse_kind()},
    owners=[OWNER],
    description=(
        "One row per website and UTC hour with events: pageviews, custom events, exact distinct "
        "visitors and sessions of that hour, for intraday charts and 'today so far'. Kept as long as "
        "the raw events (retention deletes both). A range of hours is rebuilt in one transaction."
    ),
    metadata={"dagster/column_schema": HOURLY_SCHEMA, "dagster/table_name": "hourly_stats"},
    check_specs=[dg.AssetCheckSpec("hours_reconcile_with_raw_events", asset="hourly_stats",
                                   description="Pageviews plus custom events of the built hours equal the events "
                                   "table's count for the same hours.")],
)
def hourly_stats(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    window = context.partition_time_window
    started = time.perf_counter()
    rows, chunk_start, chunks = 0, window.start, 0
    total_hours = int((window.end - window.start).total_seconds() // 3600)
    while chunk_start < window.end:  # a day of hours per statement keeps transactions short
        chunk_end = min(chunk_start + timedelta(days=1), window.end)
        rows += build_hours(wh, chunk_start, chunk_end)
        chunks += 1
        if total_hours <= 24 or chunks % 7 == 0 or chunk_end == window.end:
            context.log.info(f"hourly_stats: up to {hour_key(chunk_end)}: {rows} row(s) "
                             f"[{int((chunk_end - window.start).total_seconds() // 3600)}/{total_hours} hours]")
        chunk_start = chunk_end
    seconds = time.perf_counter() - started
    params = {"start": wh.ts(window.start), "end": wh.ts(window.end)}
    events = int(wh.query("count_events_in_range", params)[0]["events"])
    stored = int(wh.query("sum_hourly_stats_events", params)[0]["events"])
    last_hour = window.end - timedelta(hours=1)
    last = read_hours(wh, last_hour, window.end)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "hours": total_hours,
            "first_hour": hour_key(window.start),
            "last_hour": hour_key(last_hour),
            "events": events,
            "duration_seconds": round(seconds, 3),
            "preview": dg.MetadataValue.md(f"**{hour_key(last_hour)} UTC**\n\n" + markdown_table(
                [{k: r[k] for k in ("website_id", "total_pageviews", "total_custom_events", "unique_visitors",
                                    "unique_sessions")} for r in last])),
            "sql": dg.MetadataValue.md("```sql\n" + wh.sql_text("insert_hourly_stats") + "\n```"),
        },
        check_results=[dg.AssetCheckResult(
            check_name="hours_reconcile_with_raw_events", passed=events == stored,
            metadata={"events": events, "events_in_hourly_stats": stored})],
    )


hourly_stats_job = dg.define_asset_job(
    "hourly_stats_job",
    selection=dg.AssetSelection.assets(hourly_stats),
    partitions_def=hourly_partitions,
    description="Build hourly_stats for the selected hour(s).",
    tags=job_tags("hourly_stats_job"),
)
schedules.append(non_overlapping_schedule(
    hourly_stats_job, "5 * * * *", name="hourly_aggregation_schedule",
    description="Hourly aggregation: at minute 5, hourly_stats of the hour that just ended.",
    partition_key_fn=previous_hour_key, catch_up_in_one_run=True,
))


GRAIN_JOB = {"day": daily_stats_job, "week": weekly_stats_job, "month": monthly_stats_job}


def _mark_reason(grain: str, key: str, mark: dict) -> str:
    late = f"late data: {mark['events']} event(s) changed {GRAIN_ASSET[grain]} {key} after it was built"
    if mark.get("reason"):
        completing = f"completing: {mark['reason']}"
        return f"{completing}; {late}" if mark["events"] else completing
    return late


# A rebuild whose run failed is requested again (its run key carries the attempt number, so
# Dagster does not drop it as a repeat); after the first retry the wait doubles from 2 minutes up
# to an hour, so a rebuild that keeps failing is retried without flooding the Runs page.
LATE_MARK_TAG = "analytics/late_mark"
RETRY_CAP_SECONDS = 3600


def retry_delay_seconds(failures: int) -> int:
    """Seconds to wait after the ``failures``-th failed rebuild before the next attempt: 0 after
    the first (retry on the next evaluation), then 120, 240, ... up to an hour."""
    return 0 if failures <= 1 else min(RETRY_CAP_SECONDS, 60 * 2 ** (failures - 1))


def _previous_attempts(instance: dg.DagsterInstance, mark_id: str) -> list[dg.RunRecord]:
    """The rebuild runs already launched for one dirty mark, newest first."""
    return list(instance.get_run_records(filters=dg.RunsFilter(tags={LATE_MARK_TAG: mark_id})))


def _late_hour_requests(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """Run requests for built hourly_stats partitions with late-data marks (hourly_stats_dirty):
    one run per stretch of consecutive marked hours (a late file spanning a day is one run)."""
    requests, waiting = [], []
    marks = warehouse.get().query("select_hourly_stats_dirty")
    if not marks:
        return requests, waiting
    built = context.instance.get_materialized_partitions(dg.AssetKey("hourly_stats"))
    stale = sorted((Warehouse.to_datetime(m["hour_start"]), m) for m in marks
                   if hour_key(Warehouse.to_datetime(m["hour_start"])) in built)
    if not stale:
        return requests, waiting
    running = active_run(context.instance, hourly_stats_job.name)
    if running is not None:
        return requests, [f"hourly_stats: {len(stale)} hour(s) (run {running.run_id[:8]} in progress)"]
    stretches: list[list] = []
    for hour, mark in stale:
        if stretches and hour - stretches[-1][-1][0] == timedelta(hours=1):
            stretches[-1].append((hour, mark))
        else:
            stretches.append([(hour, mark)])
    now = time.time()
    for stretch in stretches:
        first, last = hour_key(stretch[0][0]), hour_key(stretch[-1][0])
        label = f"hourly_stats {first}" + (f"..{last}" if last != first else "")
        events = sum(int(m["events"]) for _h, m in stretch)
        stamp = max(str(m["marked_at"]) for _h, m in stretch)
        # the same retry rules as the days: a failed rebuild is requested again, backing off
        mark_id = f"late:hour:{first}..{last}:{stamp}"
        attempts = _previous_attempts(context.instance, mark_id)
        failed = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        failures = [r for r in attempts if r.dagster_run.status in failed]
        if attempts and attempts[0].dagster_run.status not in failed:
            waiting.append(f"{label} (rebuild {attempts[0].dagster_run.run_id[:8]} "
                           f"{attempts[0].dagster_run.status.value.lower()})")
            continue
        if failures:
            last_end = failures[0].end_time or failures[0].update_timestamp.timestamp()
            if retry_delay_seconds(len(failures)) - (now - last_end) > 0:
                waiting.append(f"{label} (rebuild failed {len(failures)} time(s); waiting to retry)")
                continue
        tags = {SINGLETON_TAG: hourly_stats_job.name, LATE_MARK_TAG: mark_id, TRIGGER_TAG: "late_data_sensor",
                REASON_TAG: f"late data: {events} event(s) changed {label} after it was built"}
        run_key = f"{mark_id}:attempt-{len(attempts) + 1}"
        if first == last:
            requests.append(dg.RunRequest(run_key=run_key, job_name=hourly_stats_job.name,
                                          partition_key=first, tags=tags))
        else:
            requests.append(dg.RunRequest(run_key=run_key, job_name=hourly_stats_job.name,
                                          tags={**tags, "dagster/asset_partition_range_start": first,
                                                "dagster/asset_partition_range_end": last}))
    return requests, waiting


@dg.sensor(
    jobs=[daily_stats_job, weekly_stats_job, monthly_stats_job, hourly_stats_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Late data: re-materializes exactly the hourly, daily, weekly and monthly partitions that "
    "already have statistics and whose events changed since (stats_dirty marks, written by the "
    "sessions asset). Also completes periods built before some website's local period had ended "
    "(west of UTC at the 01:00 build), once it has. Periods never built are left to the schedules "
    "and backfills. A failed rebuild is requested again (next evaluation, then backing off up to an hour).",
)
def late_data_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    marks = warehouse.get().query("select_stats_dirty")
    requests, waiting = _late_hour_requests(context, warehouse)
    if not marks and not requests and not waiting:
        return dg.SkipReason("no statistics are older than their events")
    utc_now = datetime.now(timezone.utc)
    by_grain: dict[str, list[dict]] = {}
    for mark in marks:
        by_grain.setdefault(mark["grain"], []).append(mark)
    now = time.time()
    for grain, grain_marks in by_grain.items():
        asset_key = dg.AssetKey(GRAIN_ASSET[grain])
        built = context.instance.get_materialized_partitions(asset_key)
        job = GRAIN_JOB[grain]
        running = active_run(context.instance, job.name)
        for mark in grain_marks:
            key = Warehouse.to_date(mark["period_start"]).isoformat()
            if key not in built:
                continue
            label = f"{GRAIN_ASSET[grain]} {key}"
            not_before = Warehouse.to_datetime(mark.get("not_before"))
            if not_before is not None and not_before > utc_now:
                waiting.append(f"{label} until {not_before:%Y-%m-%dT%H:%MZ} ({mark['reason']})")
                continue
            if running is not None:
                waiting.append(f"{label} (run {running.run_id[:8]} in progress)")
                continue
            mark_id = f"late:{grain}:{key}:{mark['marked_at']}"
            attempts = _previous_attempts(context.instance, mark_id)
            failures = [r for r in attempts if r.dagster_run.status in (dg.DagsterRunStatus.FAILURE,
                                                                        dg.DagsterRunStatus.CANCELED)]
            if attempts and attempts[0].dagster_run.status not in (dg.DagsterRunStatus.FAILURE,
                                                                   dg.DagsterRunStatus.CANCELED):
                # in progress, or succeeded and the mark is about to be cleared by that run
                waiting.append(f"{label} (rebuild {attempts[0].dagster_run.run_id[:8]} "
                               f"{attempts[0].dagster_run.status.value.lower()})")
                continue
            if failures:
                last_end = failures[0].end_time or failures[0].update_timestamp.timestamp()
                wait = retry_delay_seconds(len(failures)) - (now - last_end)
                if wait > 0:
                    waiting.append(f"{label} (rebuild failed {len(failures)} time(s); next attempt in {int(wait)} s)")
                    continue
            attempt = len(attempts) + 1
            reason = _mark_reason(grain, key, mark)
            if failures:
                reason += f"; attempt {attempt} after {len(failures)} failed rebuild(s)"
            requests.append(
                dg.RunRequest(
                    run_key=f"{mark_id}:attempt-{attempt}",
                    job_name=job.name,
                    partition_key=key,
                    tags={
                        SINGLETON_TAG: job.name,
                        LATE_MARK_TAG: mark_id,
                        TRIGGER_TAG: "late_data_sensor",
                        REASON_TAG: reason,
                    },
                )
            )
    if requests:
        return requests
    return dg.SkipReason(
        "waiting: " + "; ".join(waiting) if waiting else
        f"{len(marks)} stale period(s) have no statistics yet (schedules/backfills will build them)"
    )


@dg.sensor(
    name="websites_file_sensor",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Checks the websites file (ANALYTICS_WEBSITES_FILE): every entry with a problem "
    "(an unknown time zone falls back to the default zone for that website only), and each "
    "website's zone. Never launches runs; the next statistics run uses the file as it is.",
)
def websites_file_sensor(context: dg.SensorEvaluationContext):
    directory = load_websites()
    if directory.problems:
        context.log.warning("; ".join(str(p) for p in directory.problems))
    zones = _zones_text(directory)
    if directory.problems:
        return dg.SkipReason(f"{len(directory.problems)} problem(s): " + "; ".join(str(p) for p in directory.problems)
                             + f". {zones}")
    return dg.SkipReason(f"{directory.source}: no problems. {zones}")


defs = dg.Definitions(
    assets=[daily_stats, weekly_stats, monthly_stats, hourly_stats],
    asset_checks=[yesterday_is_aggregated],
    jobs=[daily_stats_job, weekly_stats_job, monthly_stats_job, daily_stats_freshness_job, hourly_stats_job],
    schedules=schedules,
    sensors=[late_data_sensor, websites_file_sensor],
    metadata=websites_metadata(WEBSITES),
)
