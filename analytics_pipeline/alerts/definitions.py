"""Dagster wiring of alerting: the run-failure sensor, the metric-rule sensor on daily_stats,
the health sensor, and the ``alerting`` resource (channels and thresholds)."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from analytics_pipeline.alerts.checks import job_failure_alert, root_error_line
from analytics_pipeline.alerts.resources import AlertingResource, default_alerting
from analytics_pipeline.alerts.status import unreachable_code_servers
from analytics_pipeline.alerts.run import (
    Outcome,
    alert_health,
    alert_job_failure,
    alert_metrics,
    alert_rule_errors,
)
from analytics_pipeline.orchestration import explain_idle_ticks, markdown_table
from analytics_pipeline.resources import WarehouseResource

DAILY_STATS = dg.AssetKey("daily_stats")
# Metric rules look at days materialized in the last week only: a backfill of last year's
# statistics re-computes history, it is not news anyone should be paged about.
ALERT_ON_DAYS_WITHIN = timedelta(days=7)
MATERIALIZATIONS_PER_TICK = 1000


def _log_outcome(context, outcome: Outcome) -> None:
    for note in outcome.notes:
        context.log.info(note)
    for alert, delivery in outcome.deliveries:
        line = f"{alert.title} -> {delivery.destination}: {delivery.status}"
        if delivery.error:
            line += f" ({delivery.error})"
        (context.log.warning if delivery.status == "failed" else context.log.info)(line)


@dg.run_failure_sensor(
    name="job_failure_alert_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends every failed run of a job in this code location (job, failed step, error, "
    "link to the run) to the route of the job's analytics/owner tag, or the default route "
    "(alert_rules/routes.yaml), and records it in alert_history.",
)
def job_failure_alert_sensor(
    context: dg.RunFailureSensorContext, alerting: AlertingResource, warehouse: WarehouseResource
):
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    failed_steps = [e.step_key for e in step_failures if e.step_key]
    errors = [e.event_specific_data.error for e in step_failures
              if e.event_specific_data is not None and getattr(e.event_specific_data, "error", None)]
    if errors:
        error, headline = errors[0].to_string(), root_error_line(errors[0])
    else:
        error = headline = context.failure_event.message or "the run failed"
    owner = run.tags.get(alerting.owner_tag)
    alert = job_failure_alert(
        job_name=run.job_name, run_id=run.run_id, failed_steps=failed_steps, error=error,
        link=alerting.run_url(run.run_id), owner=owner,
        failed_at=datetime.now(timezone.utc), headline=headline,
    )
    rule_set = alerting.rule_set()
    try:
        wh = warehouse.get()
    except Exception as exc:  # the failure may be the warehouse itself: still tell people
        context.log.warning(f"warehouse unavailable, alert_history not written: {exc}")
        wh = None
    outcome = alert_job_failure(wh, alerting.notifier(), rule_set.routes, alert, owner,
                                datetime.now(timezone.utc))
    _log_outcome(context, outcome)


explain_idle_ticks(job_failure_alert_sensor, "no run of this code location failed since the last tick")


def _materialized_days(records, today: date) -> tuple[list[date], int]:
    days: set[date] = set()
    old = 0
    for record in records:
        key = record.partition_key
        if not key:
            continue
        day = date.fromisoformat(key)
        if day >= today - ALERT_ON_DAYS_WITHIN:
            days.add(day)
        else:
            old += 1
    return sorted(days), old


@dg.sensor(
    name="daily_stats_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the metric alert rules (alert_rules/*.yaml) for every daily_stats "
    "partition materialized since the last tick (within the last 7 days); a firing rule is "
    "sent once per its cooldown and recorded in alert_history. Broken rule files are logged, "
    "shown here and sent once per health cooldown; the valid rules still run. Cursor: the "
    "storage id of the last daily_stats materialization seen.",
)
def daily_stats_alert_sensor(
    context: dg.SensorEvaluationContext, alerting: AlertingResource, warehouse: WarehouseResource
):
    after = int(context.cursor) if context.cursor else None
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DAILY_STATS, after_storage_id=after),
        limit=MATERIALIZATIONS_PER_TICK, ascending=True,
    )
    if not result.records:
        return dg.SkipReason("no new daily_stats materialization since the last tick")
    now = datetime.now(timezone.utc)
    days, old = _materialized_days(result.records, now.date())
    rule_set = alerting.rule_set()
    for problem in rule_set.errors:
        context.log.warning(f"alert rule file problem: {problem}")
    wh = warehouse.get()
    notifier = alerting.notifier()
    outcome = alert_metrics(wh, notifier, rule_set, days, now)
    config = alert_rule_errors(wh, notifier, rule_set, alerting.rules_dir, alerting.health_cooldown_delta, now)
    _log_outcome(context, outcome)
    _log_outcome(context, config)
    context.update_cursor(str(result.records[-1].storage_id))
    message = (f"{len(result.records)} materialization(s); evaluated {len(rule_set.rules)} rule(s) for "
               f"{', '.join(map(str, days)) or 'no recent day'}"
               + (f" ({old} older partition(s) not evaluated)" if old else "")
               + f": {outcome.summary()}")
    if rule_set.errors:
        message += f". {len(rule_set.errors)} rule file problem(s): " + "; ".join(map(str, rule_set.errors))
    if outcome.deliveries:
        context.log.info("\n" + markdown_table(outcome.rows()))
    return dg.SkipReason(message)


@dg.sensor(
    name="pipeline_health_sensor",
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 10 minutes: alerts when the daily aggregation is more than 36 hours "
    "behind (ANALYTICS_AGGREGATION_MAX_LAG_HOURS), the warehouse is larger than "
    "ANALYTICS_WAREHOUSE_MAX_BYTES, or a run in progress was started by a code server that no "
    "longer answers, on the default route, once per health cooldown.",
)
def pipeline_health_sensor(
    context: dg.SensorEvaluationContext, alerting: AlertingResource, warehouse: WarehouseResource
):
    rule_set = alerting.rule_set()
    outcome = alert_health(
        warehouse.get(), alerting.notifier(), rule_set.routes,
        max_lag_hours=alerting.max_lag_hours, max_bytes=alerting.max_bytes,
        cooldown=alerting.health_cooldown_delta, now=datetime.now(timezone.utc),
        unreachable=unreachable_code_servers(context.instance),
    )
    _log_outcome(context, outcome)
    return dg.SkipReason("; ".join(outcome.notes) + f". {outcome.summary()}")


defs = dg.Definitions(
    sensors=[job_failure_alert_sensor, daily_stats_alert_sensor, pipeline_health_sensor],
    resources={"alerting": default_alerting()},
)
