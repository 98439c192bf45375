"""Job statuses and metrics from the Dagster instance, and triggering a job (a queued run)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request

from analytics_pipeline.api.deps import require_all_websites
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.models import ErrorBody, JobMetrics, JobStatus, RunAccepted, RunStatus
from analytics_pipeline.api.security import ApiKey, require_api_key

router = APIRouter(tags=["jobs"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
          404: {"model": ErrorBody}, 503: {"model": ErrorBody}}


def dagster(request: Request):
    return request.app.state.dagster


@router.get("/api/v1/jobs", response_model=list[JobStatus], responses=ERRORS,
            summary="Every job's last run, next tick and error")
def list_jobs(key: ApiKey = Depends(require_api_key), access=Depends(dagster)) -> list[dict]:
    """``status``: ``completed``, ``failed``, ``running`` (queued or in progress) or ``scheduled``
    (never ran); ``dagsterStatus`` is the run status as Dagster names it."""
    return access.job_statuses()[0]


@router.get("/api/v1/jobs/metrics", response_model=JobMetrics, responses=ERRORS,
            summary="Run totals of the last 7 days")
def job_metrics(key: ApiKey = Depends(require_api_key), access=Depends(dagster)) -> dict:
    return access.job_statuses()[1]


@router.post("/api/v1/jobs/{job_name}/trigger", status_code=202, response_model=RunAccepted, responses=ERRORS,
             summary="Queue a run of a job (the Dagster daemon launches it)")
def trigger_job(
    job_name: str,
    partition: Annotated[str | None, Body(embed=True, description="partition key, for partitioned jobs", max_length=40)] = None,
    key: ApiKey = Depends(require_api_key),
    access=Depends(dagster),
) -> dict:
    """Needs a key for all websites. ``job_name`` is a Dagster job (``cache_refresh_job``) or a
    cache entry family's id (``top-items``: a refresh run of just that asset). The run is created in the instance and queued; nothing runs
    in the API's process."""
    require_all_websites(key)
    if len(job_name) > 200:
        raise ApiError(404, "unknown_job", "no such job")
    from analytics_pipeline.cache.definitions import REFRESH_JOB_NAME, REFRESHED, asset_name

    assets = None
    if job_name in REFRESHED:  # a cache entry family's id (user-growth, top-items, ...): refresh just it
        assets, job_name = [asset_name(job_name)], REFRESH_JOB_NAME
    run = access.submit(job_name, partition=partition, tags={"analytics/requested_by": f"api:{key.name}"},
                        assets=assets)
    alive = access.daemon_alive()
    return {"runId": run.run_id, "job": job_name, "status": "queued", "partition": partition,
            "statusUrl": f"/api/v1/runs/{run.run_id}",
            "note": None if alive else "no Dagster daemon heartbeat: the run waits in the queue until "
                                       "a daemon runs (make dev, or dagster-daemon run)"}


@router.get("/api/v1/runs/{run_id}", response_model=RunStatus, responses=ERRORS, summary="One run's status")
def run_status(run_id: str, key: ApiKey = Depends(require_api_key), access=Depends(dagster)) -> dict:
    require_all_websites(key)
    found = access.run_status(run_id) if len(run_id) <= 64 else None
    if found is None:
        raise ApiError(404, "unknown_run", "no such run")
    return found
