"""Report history and statistics read from the Dagster instance (the seed's getReportStatistics):
every materialization of a report asset is a successful report; every failed run that targeted
the report asset (or a failed-materialization event of it) is a failed one. The instance is the
record; nothing is duplicated in the warehouse."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg

from analytics_pipeline.reports.templates import ReportTemplate

PAGE = 1000


@dataclass
class TemplateHistory:
    template_id: str
    name: str
    schedule: str
    active: bool
    successful: int = 0
    failed: int = 0
    partitions: set[str] = field(default_factory=set)
    last_success: datetime | None = None
    last_success_partition: str | None = None
    last_failure: datetime | None = None
    last_failure_partition: str | None = None
    last_delivery: str | None = None

    def as_dict(self) -> dict:
        return {
            "template": self.template_id, "name": self.name, "schedule": self.schedule, "active": self.active,
            "successful": self.successful, "failed": self.failed, "partitions": len(self.partitions),
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_success_partition": self.last_success_partition,
            "last_failure": self.last_failure.isoformat() if self.last_failure else None,
            "last_failure_partition": self.last_failure_partition,
            "last_delivery": self.last_delivery,
        }


def _records(fetch, key: dg.AssetKey):
    cursor = None
    while True:
        result = fetch(dg.AssetRecordsFilter(asset_key=key), limit=PAGE, cursor=cursor)
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def failed_runs_by_id(instance: dg.DagsterInstance) -> dict[str, datetime]:
    """Failed runs of the instance and when they ended."""
    out = {}
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])):
        ended = record.end_time
        out[record.dagster_run.run_id] = (datetime.fromtimestamp(ended, tz=timezone.utc) if ended
                                          else record.create_timestamp)
    return out


def template_history(instance: dg.DagsterInstance, template: ReportTemplate, failed_runs: dict[str, datetime]) -> TemplateHistory:
    key = dg.AssetKey(["reports", template.id])
    history = TemplateHistory(template.id, template.name, template.schedule, template.active)
    for record in _records(instance.fetch_materializations, key):
        history.successful += 1
        when = datetime.fromtimestamp(record.timestamp, tz=timezone.utc)
        if record.partition_key:
            history.partitions.add(record.partition_key)
        if history.last_success is None or when > history.last_success:
            history.last_success, history.last_success_partition = when, record.partition_key
            materialization = record.asset_materialization
            status = materialization.metadata.get("delivery_status") if materialization else None
            history.last_delivery = status.value if status is not None else None
    failures: dict[str, tuple[datetime, str | None]] = {}
    for record in _records(instance.fetch_failed_materializations, key):
        failures[record.run_id] = (datetime.fromtimestamp(record.timestamp, tz=timezone.utc), record.partition_key)
    # In-process runs record no failed-materialization event: a failed run that planned the
    # report is a failed report too.
    for record in _records(instance.fetch_planned_materializations, key):
        if record.run_id in failed_runs and record.run_id not in failures:
            failures[record.run_id] = (failed_runs[record.run_id], record.partition_key)
    history.failed = len(failures)
    for when, partition in failures.values():
        if history.last_failure is None or when > history.last_failure:
            history.last_failure, history.last_failure_partition = when, partition
    return history


def report_statistics(instance: dg.DagsterInstance, templates: Iterable[ReportTemplate]) -> dict:
    """``{"totalTemplates", "activeTemplates", "successfulReports", "failedReports", "templates": [...]}``."""
    failed_runs = failed_runs_by_id(instance)
    histories = [template_history(instance, t, failed_runs) for t in templates]
    return {
        "totalTemplates": len(histories),
        "activeTemplates": sum(h.active for h in histories),
        "successfulReports": sum(h.successful for h in histories),
        "failedReports": sum(h.failed for h in histories),
        "templates": [h.as_dict() for h in histories],
    }
