"""Generated reports: the list with their status, file downloads, and a report generated now
(a queued run of the template's partitioned job) with its status."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import dagster as dg
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import FileResponse

from analytics_pipeline import settings
from analytics_pipeline.api.deps import require_all_websites
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.models import ErrorBody, RunAccepted, RunStatus
from analytics_pipeline.api.routes.jobs import dagster
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.partitions import period_start

router = APIRouter(tags=["reports"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
          404: {"model": ErrorBody}, 503: {"model": ErrorBody}}
FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.(csv|json|xlsx|pdf)")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


def reports_dir(request: Request) -> Path:
    return Path(getattr(request.app.state, "reports_dir", None) or settings.reports_dir()).resolve()


def templates(request: Request) -> dict:
    from analytics_pipeline.reports.templates import load_templates

    directory = getattr(request.app.state, "templates_dir", None) or settings.templates_dir()
    return load_templates(Path(directory)).by_id()


def _template(request: Request, template_id: str):
    found = templates(request).get(template_id)
    if found is None:
        raise ApiError(404, "unknown_template", f"no report template {template_id[:80]!r}")
    return found


def _files(root: Path, template_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{partition: [file, ...]}`` of one template's directory (only well-formed names)."""
    out: dict[str, list[dict[str, Any]]] = {}
    folder = root / template_id
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        match = FILE_NAME.fullmatch(path.name)
        if not match or not path.is_file():
            continue
        stat = path.stat()
        out.setdefault(match.group(1), []).append({
            "format": match.group(2), "bytes": stat.st_size,
            "modifiedAt": datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat().replace("+00:00", "Z"),
            "url": f"/api/v1/reports/{template_id}/files/{path.name}",
        })
    return out


@router.get("/api/v1/reports", responses=ERRORS, summary="Templates, generated report files and report runs")
def list_reports(request: Request, key: ApiKey = Depends(require_api_key), access=Depends(dagster)) -> dict:
    """``reports``: one item per generated period (``status: completed``, its files) and per
    report run that is queued, running or failed; ``statistics``: the instance's totals
    (null when the Dagster instance cannot be opened)."""
    require_all_websites(key)
    from analytics_pipeline.reports.definitions import report_job_name
    from analytics_pipeline.reports.history import report_statistics

    found = templates(request)
    root = reports_dir(request)
    reports: list[dict[str, Any]] = []
    for template in found.values():
        for partition, files in sorted(_files(root, template.id).items(), reverse=True):
            reports.append({"template": template.id, "partition": partition, "status": "completed",
                            "generatedAt": max(f["modifiedAt"] for f in files), "files": files})
    statistics = None
    try:
        instance = access.instance()
        statistics = report_statistics(instance, found.values())
        for template in found.values():
            for run in instance.get_runs(dg.RunsFilter(job_name=report_job_name(template)), limit=20):
                if run.status == dg.DagsterRunStatus.SUCCESS:
                    continue
                state = access.run_status(run.run_id)
                reports.append({"template": template.id, "partition": state["partition"], "status": state["status"],
                                "runId": run.run_id, "generatedAt": None, "error": state["error"], "files": []})
    except ApiError:
        pass
    templates_out = [{"id": t.id, "name": t.name, "schedule": t.schedule, "formats": list(t.formats),
                      "active": t.active, "description": t.description} for t in found.values()]
    return {"templates": templates_out, "reports": reports, "statistics": statistics}


@router.get("/api/v1/reports/{template_id}/files/{file_name}", responses=ERRORS,
            summary="Download one report file ({partition}.{csv|json|xlsx|pdf})")
def download(template_id: str, file_name: str, request: Request, key: ApiKey = Depends(require_api_key)) -> FileResponse:
    require_all_websites(key)
    template = _template(request, template_id)
    match = FILE_NAME.fullmatch(file_name)
    if not match:
        raise ApiError(404, "not_found", "a report file is named {partition}.{csv|json|xlsx|pdf}")
    root = reports_dir(request)
    path = (root / template.id / file_name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ApiError(404, "not_found", f"no file {file_name} for {template.id}")
    return FileResponse(path, media_type=MEDIA_TYPES[match.group(2)], filename=f"{template.id}-{file_name}")


@router.post("/api/v1/reports/{template_id}/generate", status_code=202, response_model=RunAccepted,
             responses=ERRORS, summary="Generate a report period now (a queued run)")
def generate(
    template_id: str,
    request: Request,
    period: Annotated[str, Body(embed=True, description="any day of the period (YYYY-MM-DD); the period's "
                                                       "first day is its partition", max_length=40)],
    key: ApiKey = Depends(require_api_key),
    access=Depends(dagster),
) -> dict:
    require_all_websites(key)
    from analytics_pipeline.reports.definitions import report_job_name

    template = _template(request, template_id)
    try:
        day = date.fromisoformat(period.strip()) if len(period.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError(400, "invalid_parameter", "period: a date, YYYY-MM-DD", field="period")
    partition = period_start(template.grain, day).isoformat()
    run = access.submit(report_job_name(template), partition=partition,
                        tags={"analytics/requested_by": f"api:{key.name}"})
    alive = access.daemon_alive()
    return {"runId": run.run_id, "job": report_job_name(template), "status": "queued", "partition": partition,
            "statusUrl": f"/api/v1/reports/{template.id}/status/{run.run_id}",
            "note": None if alive else "no Dagster daemon heartbeat: the run waits in the queue until "
                                       "a daemon runs (make dev, or dagster-daemon run)"}


@router.get("/api/v1/reports/{template_id}/status/{run_id}", response_model=RunStatus, responses=ERRORS,
            summary="The status of a report run, with its files once completed")
def status(template_id: str, run_id: str, request: Request, key: ApiKey = Depends(require_api_key),
           access=Depends(dagster)) -> dict:
    require_all_websites(key)
    from analytics_pipeline.reports.definitions import report_job_name

    template = _template(request, template_id)
    found = access.run_status(run_id) if len(run_id) <= 64 else None
    if found is None or found["job"] != report_job_name(template):
        raise ApiError(404, "unknown_run", f"no run {run_id[:64]!r} of report {template.id}")
    files = _files(reports_dir(request), template.id).get(found["partition"] or "", [])
    found["files"] = files if found["status"] == "completed" else []
    return found
