"""``/health`` (open) and ``/metrics`` for Prometheus (open), plus the floor route of the
benchmark (``/api/v1/ping``: a constant answer behind the same key check)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from analytics_pipeline.api.models import Health
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.api.services import CACHE_ERRORS, WarehouseDown

router = APIRouter(tags=["operations"])


def _check(fn) -> dict:
    start = time.perf_counter()
    try:
        detail = fn() or {}
        return {"status": "ok", "ms": round((time.perf_counter() - start) * 1000, 2), **detail}
    except Exception as exc:  # any failure is "down", with its first line
        return {"status": "down", "error": str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}


@router.get("/health", response_model=Health, responses={503: {"model": Health}},
            summary="Warehouse, cache and Dagster instance checks")
def health(request: Request) -> JSONResponse:
    """200 ``{"status": "ok", "checks": {...}}`` when the warehouse, the cache and the Dagster
    instance answer; 503 ``{"status": "down", ...}`` naming what is down."""
    svc = request.app.state.services
    access = request.app.state.dagster

    def warehouse():
        try:
            svc.compute(lambda wh: wh.query("select_api_ping"))
        except WarehouseDown as exc:
            raise RuntimeError(str(exc)) from exc
        return {"url": svc.display_url}

    def cache():
        try:
            svc.cache().ping()
            svc.cache().get("analytics:health-probe")
        except CACHE_ERRORS as exc:
            raise RuntimeError(str(exc)) from exc
        return {"backend": svc.cache_kind}

    def dagster():
        instance = access.instance()
        instance.get_runs(limit=1)
        return {"daemon": access.daemon_alive()}

    checks = {"warehouse": _check(warehouse), "cache": _check(cache), "dagster": _check(dagster)}
    down = [name for name, check in checks.items() if check["status"] != "ok"]
    body = {"status": "down" if down else "ok", "checks": checks}
    if down:
        body["down"] = down
    return JSONResponse(body, status_code=503 if down else 200)


@router.get("/metrics", include_in_schema=True, summary="Prometheus metrics (text exposition format)",
            response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/ping", summary="A constant answer behind the key check (the benchmark's floor)")
async def ping(key: ApiKey = Depends(require_api_key)) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")
