"""Dagster wiring of custom metrics: one daily-partitioned asset ``metrics/<name>``, job and
schedule per metric file in ``ANALYTICS_METRICS_DIR``.

Files are read when the code location loads. A broken file is skipped with a warning, listed in
the definitions' metadata and by ``analytics-pipeline metrics validate``; the others load.
"""

import logging
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.metrics.compile import compile_metric
from analytics_pipeline.metrics.compute import build_days
from analytics_pipeline.metrics.spec import MetricDefinition, MetricSet, load_metrics
from analytics_pipeline.orchestration import OWNER, job_tags, markdown_table, non_overlapping_schedule, warehouse_kind
from analytics_pipeline.partitions import daily_partitions
from analytics_pipeline.resources import WarehouseResource
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import current_websites

log = logging.getLogger(__name__)

GROUP = "metrics"
SCHEDULE_CRON = "20 1 * * *"  # after daily_stats (01:00): yesterday's values

METRIC_VALUES_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("metric", "text", description="the metric file's name"),
    dg.TableColumn("website_id", "text"),
    dg.TableColumn("day", "date", description="the website's local day"),
    dg.TableColumn("dimensions", "json", description='canonical JSON {"dimension name": "value"}; "(none)" = missing, '
                                                      '"(other)" = beyond the cardinality cap; {} without dimensions'),
    dg.TableColumn("value", "float", description="null when it has no value (division by zero, nothing numeric)"),
    dg.TableColumn("events", "integer", description="events that matched the metric's filters in this group"),
    dg.TableColumn("inputs", "json", description="what the value was computed from (counts, sum/count/min/max/ignored)"),
    dg.TableColumn("computed_at", "timestamp"),
])

# Late data: daily_stats of a day is re-materialized by the stats late-data sensor when events of
# that day arrive late; the metric partitions of the same day that exist are rebuilt after it.
# Only daily_stats counts: raw_events updates every few seconds and must not trigger rebuilds.
REBUILD_AFTER_DAILY_STATS = (
    ~dg.AutomationCondition.missing()
    & dg.AutomationCondition.any_deps_updated().allow(dg.AssetSelection.assets("daily_stats")).since_last_handled()
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.any_deps_in_progress()
).with_label("rebuild when the day's daily_stats are re-materialized (late data)")


def metric_key(metric: MetricDefinition) -> dg.AssetKey:
    return dg.AssetKey([GROUP, metric.name])


def metric_job_name(metric: MetricDefinition) -> str:
    return f"metric_{metric.name}_job"


def _preview(result) -> str:
    rows = [{"website": r.website_id, **{k: v for k, v in r.dimensions.items()}, "value": r.value, "events": r.events}
            for r in sorted(result.rows, key=lambda r: (r.website_id, -(r.events)))]
    return markdown_table(rows, limit=20)


def build_metric_asset(metric: MetricDefinition):
    key = metric_key(metric)
    sample_sql = compile_metric(metric, "sqlite" if warehouse_kind() == "sqlite" else "postgresql").sql

    @dg.asset(
        key=key,
        group_name=GROUP,
        partitions_def=daily_partitions,
        deps=["raw_events", dg.AssetDep("daily_stats", partition_mapping=dg.TimeWindowPartitionMapping())],
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"sql", warehouse_kind()},
        owners=[OWNER],
        tags={"analytics/metric_type": metric.type},
        description=(
            f"{metric.description or metric.name} One row per website, local day and combination of "
            f"dimension values in metric_values (metric = '{metric.name}'): {metric.describe()}. "
            f"Type {metric.type}, unit {metric.unit or 'none'}; defined by {metric.source}."
        ),
        metadata={
            "dagster/column_schema": METRIC_VALUES_SCHEMA,
            "dagster/table_name": "metric_values",
            "metric_file": metric.source,
            "type": metric.type,
            "unit": metric.unit,
            "definition": metric.describe(),
            "schedule": f"daily at {SCHEDULE_CRON} UTC (yesterday)",
            "sql": dg.MetadataValue.md(f"```sql\n{sample_sql}\n```"),
        },
        automation_condition=REBUILD_AFTER_DAILY_STATS,
    )
    def _metric(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh: Warehouse = warehouse.get()
        days = [date.fromisoformat(k) for k in context.partition_keys]
        directory = current_websites()
        started = datetime.now()

        def progress(result, i: int) -> None:
            if len(days) <= 10 or i % 10 == 0 or i == len(days):
                context.log.info(f"{metric.name} {result.day}: {len(result.rows)} row(s) [{i}/{len(days)}]")

        results = build_days(wh, metric, days, directory=directory, progress=progress)
        seconds = (datetime.now() - started).total_seconds()
        rows = sum(len(r.rows) for r in results)
        ignored = sum(r.ignored for r in results)
        capped: dict[str, int] = {}
        for r in results:
            for path, n in r.capped.items():
                capped[path] = capped.get(path, 0) + n
        if ignored:
            context.log.warning(f"{metric.name}: {ignored} non-numeric value(s) of {metric.field.path} were skipped")
        last = results[-1]
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "days": len(days),
            "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
            "statements": sum(r.statements for r in results),
            "duration_seconds": round(seconds, 3),
            "non_numeric_values_ignored": ignored,
            "dimension_values_folded_into_other": dg.MetadataValue.json(capped),
            "websites_in_last_day": len({r.website_id for r in last.rows}),
            "preview": dg.MetadataValue.md(f"**{last.day}**\n\n" + _preview(last)),
            "sql": dg.MetadataValue.md(f"```sql\n{compile_metric(metric, wh.dialect).sql}\n```"),
        })

    return _metric


def build_metric_job(metric: MetricDefinition):
    name = metric_job_name(metric)
    return dg.define_asset_job(name, selection=dg.AssetSelection.assets(metric_key(metric)),
                               partitions_def=daily_partitions,
                               description=f"Compute metric {metric.name} for the selected day(s).",
                               tags=job_tags(name))


def _yesterday(scheduled: datetime) -> str:
    return (scheduled - timedelta(days=1)).date().isoformat()


def _problems_metadata(metric_set: MetricSet) -> dict:
    metrics = [{"name": m.name, "file": m.source, "type": m.type, "unit": m.unit, "definition": m.describe()}
               for m in metric_set.metrics]
    problems = [{"file": p.file, "field": p.field, "problem": p.problem} for p in metric_set.problems]
    return {
        "metrics_dir": str(metric_set.directory),
        "metric_definitions": dg.MetadataValue.md(markdown_table(metrics, limit=500)),
        "metric_definition_problems": dg.MetadataValue.md(markdown_table(problems, limit=500)),
        "metric_definition_problem_count": len(problems),
    }


def build_metric_defs(metrics_dir: Path) -> dg.Definitions:
    """The metrics of every valid definition file in ``metrics_dir``."""
    metric_set = load_metrics(Path(metrics_dir))
    for problem in metric_set.problems:
        message = f"metric definition skipped: {problem}"
        log.warning(message)
        warnings.warn(message, stacklevel=2)
    assets, jobs, schedules = [], [], []
    for metric in metric_set.metrics:
        job = build_metric_job(metric)
        assets.append(build_metric_asset(metric))
        jobs.append(job)
        schedules.append(non_overlapping_schedule(
            job, SCHEDULE_CRON, name=f"metric_{metric.name}_schedule",
            description=f"Metric {metric.name}: yesterday's values at {SCHEDULE_CRON} UTC, after daily_stats.",
            partition_key_fn=_yesterday, catch_up_in_one_run=True,
        ))
    sensors = []
    if assets:
        sensors.append(dg.AutomationConditionSensorDefinition(
            "metrics_late_data_sensor",
            target=dg.AssetSelection.assets(*(a.key for a in assets)),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=60,
            description="Rebuilds metric days that exist when the same day's daily_stats were re-materialized "
            "(late data).",
        ))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors,
                          metadata=_problems_metadata(metric_set))


defs = build_metric_defs(settings.metrics_dir())
