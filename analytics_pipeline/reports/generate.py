"""Generate one report: gather its data, render every format the template asks for, and write
the files atomically to ``{reports_dir}/{template_id}/{partition_key}.{ext}``."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from analytics_pipeline.partitions import period_start
from analytics_pipeline.reports.data import ReportData, gather_report_data
from analytics_pipeline.reports.render_csv import render_csv
from analytics_pipeline.reports.render_json import render_json
from analytics_pipeline.reports.templates import ReportTemplate
from analytics_pipeline.warehouse import Warehouse


# reportlab and openpyxl take a quarter of a second to import; every code location load and run
# worker imports this module, only report runs render PDF or XLSX: import them on first use.
def render_xlsx(data: ReportData) -> bytes:
    from analytics_pipeline.reports.render_xlsx import render_xlsx

    return render_xlsx(data)


def render_pdf(data: ReportData) -> bytes:
    from analytics_pipeline.reports.render_pdf import render_pdf

    return render_pdf(data)


RENDERERS: dict[str, Callable[[ReportData], bytes]] = {
    "csv": render_csv,
    "json": render_json,
    "xlsx": render_xlsx,
    "pdf": render_pdf,
}
CONTENT_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class ReportFile:
    """One written file."""

    format: str
    path: Path
    size: int
    rows: int
    seconds: float

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass
class GeneratedReport:
    data: ReportData
    files: list[ReportFile]
    gather_seconds: float

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]


def report_path(reports_dir: Path, template_id: str, partition_key: str, fmt: str) -> Path:
    return Path(reports_dir) / template_id / f"{partition_key}.{fmt}"


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over ``path``: readers see the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ReportTooLarge(ValueError):
    """A rendered file is over ``ANALYTICS_MAX_REPORT_SIZE_MB``; nothing of that report is written."""


def render_files(data: ReportData, reports_dir: Path, formats: tuple[str, ...] | None = None,
                 max_bytes: int | None = None) -> list[ReportFile]:
    """Render every format first, then write them: a report over the size limit writes nothing."""
    rows = len(data.records())
    rendered = []
    for fmt in formats or data.template.formats:
        started = time.perf_counter()
        content = RENDERERS[fmt](data)
        if max_bytes is not None and len(content) > max_bytes:
            raise ReportTooLarge(
                f"{data.template.id} {data.period.key}: the {fmt} file would be {len(content) / 1e6:.1f} MB, over "
                f"the limit of {max_bytes / 1e6:.1f} MB (ANALYTICS_MAX_REPORT_SIZE_MB); lower the template's "
                "top_limit or sections, or raise the limit")
        rendered.append((fmt, content, time.perf_counter() - started))
    files = []
    for fmt, content, seconds in rendered:
        started = time.perf_counter() - seconds
        path = report_path(reports_dir, data.template.id, data.period.key, fmt)
        write_atomically(path, content)
        files.append(ReportFile(fmt, path, len(content), rows, round(time.perf_counter() - started, 4)))
    return files


def generate_report(
    warehouse: Warehouse,
    template: ReportTemplate,
    partition_key: str,
    reports_dir: Path,
    *,
    formats: tuple[str, ...] | None = None,
    now: datetime | None = None,
    incomplete: list[str] | None = None,
    max_bytes: int | None = None,
) -> GeneratedReport:
    """Gather the data of ``template`` for ``partition_key`` and write its files (``incomplete``:
    why its statistics are not final; ``max_bytes``: the largest file allowed)."""
    started = time.perf_counter()
    data = gather_report_data(warehouse, template, partition_key, now=now, incomplete=incomplete)
    gather_seconds = round(time.perf_counter() - started, 4)
    return GeneratedReport(data, render_files(data, Path(reports_dir), formats, max_bytes), gather_seconds)


def write_report(warehouse: Warehouse, template: ReportTemplate, partition_key: str, reports_dir: Path) -> list[Path]:
    """Write every format of ``template`` for the period ``partition_key`` (its first day,
    ``YYYY-MM-DD``); returns the paths written. No Dagster, no e-mail: the demo calls this."""
    return generate_report(warehouse, template, partition_key, reports_dir).paths


def latest_partition(warehouse: Warehouse, template: ReportTemplate) -> str | None:
    """The latest period of ``template``'s grain that has statistics (it may still be running)."""
    table, key_column = {"day": ("daily_stats", "date"), "week": ("weekly_stats", "period_start"),
                         "month": ("monthly_stats", "period_start"),
                         "quarter": ("monthly_stats", "period_start")}[template.grain]
    latest = Warehouse.to_date(warehouse.query("select_report_latest_period", table=table,
                                               key_column=key_column)[0]["latest"])
    return period_start(template.grain, latest).isoformat() if latest else None


def write_latest_reports(warehouse: Warehouse, templates: list[ReportTemplate], reports_dir: Path) -> dict[str, list[Path]]:
    """Every template's files for its latest period with statistics (the demo's last step);
    templates whose grain has no statistics yet are left out."""
    written = {}
    for template in templates:
        partition = latest_partition(warehouse, template)
        if partition is not None:
            written[template.id] = write_report(warehouse, template, partition, reports_dir)
    return written
