"""The dashboard endpoint, the website list, and the dashboard page at ``/``."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from analytics_pipeline.api import queries
from analytics_pipeline.api.deps import envelope, known_websites, services, website_scope
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.models import DashboardResponse, ErrorBody, Website
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.api.services import Served, Services
from analytics_pipeline.cache import entries as E

router = APIRouter()
STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "chart.js": "text/javascript"}
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
          404: {"model": ErrorBody}, 429: {"model": ErrorBody}, 503: {"model": ErrorBody}}


def dashboard_key(scope: str, first: date, end: date) -> str:
    return f"{E.NAMESPACE}dashboard:{scope}:{first.isoformat()}:{end.isoformat()}"


def _warmed_top_items(svc: Services, scope: str, first: date, end: date, now: datetime) -> dict[str, Any] | None:
    """The warmed top-items entry when it covers exactly these days (UTC days, last 30)."""
    if not svc.websites().all_utc or (first, end) != E.last_full_days(now, E.TOP_ITEMS_DAYS):
        return None
    raw = svc.cache_get(E.top_items_key(scope, 10))
    if raw is None:
        return None
    value = json.loads(raw)
    return value if (value.get("from"), value.get("to")) == (first.isoformat(), end.isoformat()) else None


def dashboard_request(svc: Services, website: str | None, timeframe: str | None, start: str | None,
                      end: str | None, max_days: int, unique_users=None):
    """``(cache key, compute)`` of one dashboard request (400 for bad parameters)."""
    directory = svc.websites()
    now = datetime.now(timezone.utc)
    today = now.astimezone(ZoneInfo(directory.default_timezone)).date()
    first, end_day, label = queries.dashboard_window(timeframe, start, end, today, max_days)
    scope = website or E.ALL

    def compute(warehouse):
        return queries.dashboard(warehouse, first, end_day, website, directory, now=now, label=label,
                                 warmed_top_items=_warmed_top_items(svc, scope, first, end_day, now),
                                 unique_users=unique_users)

    return dashboard_key(scope, first, end_day), compute


def build_dashboard(svc: Services, website: str | None, timeframe: str | None, start: str | None,
                    end: str | None, max_days: int, *, fresh: bool = False, unique_users=None) -> Served:
    """The dashboard of one website or all, from the cache or computed (stored for 60 s);
    ``fresh`` skips the cached answer (the stream, after the pipeline refreshed the cache)."""
    key, compute = dashboard_request(svc, website, timeframe, start, end, max_days, unique_users)
    return svc.cache_aside("dashboard", key, compute, read_cache=not fresh)


@router.get("/api/v1/dashboard", response_model=DashboardResponse, responses=ERRORS, tags=["dashboard"],
            summary="Metric cards with the change against the previous period, events, top lists, trend")
async def get_dashboard(
    request: Request,
    timeframe: Annotated[str | None, Query(description="7d, 30d (default) or 90d: the last N full days", max_length=20)] = None,
    from_: Annotated[str | None, Query(alias="from", description="first day (YYYY-MM-DD), instead of timeframe", max_length=40)] = None,
    to: Annotated[str | None, Query(description="last day (YYYY-MM-DD, inclusive)", max_length=40)] = None,
    website_id: Annotated[str | None, Query(description="a website id, or 'all' (default)", max_length=200)] = None,
    key: ApiKey = Depends(require_api_key),
    svc: Services = Depends(services),
) -> Response:
    """Days are each website's local days; the previous period is the same number of days just
    before. Cached for 60 s under ``analytics:dashboard:{scope}:{from}:{to}``."""
    website = None if website_id in (None, "", "all") else await run_in_threadpool(website_scope, svc, key, website_id)
    if website is None:
        key.check_website(None)
    cache_key, compute = dashboard_request(svc, website, timeframe, from_, to, request.app.state.config.max_range_days,
                                           request.app.state.visitor_index.count)
    served = svc.lookup("dashboard", cache_key)  # a hit is answered on the event loop
    if served is None:
        served = await run_in_threadpool(svc.cache_aside, "dashboard", cache_key, compute, read_cache=False)
    return envelope(served)


@router.get("/api/v1/websites", response_model=list[Website], responses=ERRORS, tags=["dashboard"],
            summary="The websites this key may read (websites file and statistics)")
def get_websites(key: ApiKey = Depends(require_api_key), svc: Services = Depends(services)) -> list[dict[str, str]]:
    directory = svc.websites()
    ids = (known_websites(svc) or set(directory.websites))
    return [{"id": i, "name": directory.name(i), "timezone": directory.timezone_name(i)}
            for i in sorted(ids) if key.allows(i)]


@router.get("/", include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:  # a fixed list: no path from the request reaches the disk
        raise ApiError(404, "not_found", "no such file")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})
