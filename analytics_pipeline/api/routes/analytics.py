"""The summary (cache-aside) and the warmed dashboard entries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from analytics_pipeline.api import queries
from analytics_pipeline.api.deps import envelope, services, website_scope
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.models import EntryResponse, ErrorBody, SummaryResponse
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.api.services import Served, Services
from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache import warm

router = APIRouter(tags=["analytics"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
          404: {"model": ErrorBody}, 429: {"model": ErrorBody}, 503: {"model": ErrorBody}}

Website = Annotated[str | None, Query(description="a website id, or 'all' (default)", max_length=200)]


def summary_cache_key(start: datetime, end: datetime, website_id: str | None) -> str:
    """The summary's key: ``analytics:summary:{from}:{to}`` over every website (the warmed
    presets use the same key), ``analytics:site-summary:{website}:{from}:{to}`` for one."""
    if website_id is None:
        return E.summary_key(start, end)
    return f"{E.NAMESPACE}site-summary:{website_id}:{E.iso_ms(start)}:{E.iso_ms(end)}"


@router.get("/api/analytics/summary", response_model=SummaryResponse, responses=ERRORS,
            summary="Events, unique users and events by type over [from, to)")
async def get_summary(
    request: Request,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601, inclusive", max_length=200)] = None,
    to: Annotated[str | None, Query(description="ISO 8601, exclusive", max_length=200)] = None,
    website_id: Website = None,
    key: ApiKey = Depends(require_api_key),
    svc: Services = Depends(services),
) -> Response:
    """``totalEvents`` and ``eventsByType`` count events with ``from <= occurred_at < to``;
    ``uniqueUsers`` counts their distinct ``visitor_id``. Cache-aside: a warmed preset or an
    answer computed in the last 60 s is ``cached: true``."""
    start, end = queries.parse_range(from_, to, request.app.state.config.max_range_days)
    website = None if website_id in (None, "", "all") else await run_in_threadpool(website_scope, svc, key, website_id)
    if website is None:
        key.check_website(None)
    cache_key = summary_cache_key(start, end, website)
    # a hit is answered on the event loop (one cache GET); the computation runs in the thread pool
    served = svc.lookup("summary", cache_key)
    if served is None:
        counter = request.app.state.visitor_index.count
        served = await run_in_threadpool(
            svc.cache_aside, "summary", cache_key,
            lambda wh: queries.summary(wh, start, end, website, svc.websites(), unique_users=counter),
            read_cache=False)
    return envelope(served)


def _warmed(svc: Services, entry: str, job_id: str, key: str) -> Response:
    """A warmed entry; on a miss its job's entries are computed and the asked one stored."""

    def compute(warehouse):
        computed = warm.JOBS[job_id].compute(warehouse, svc.cache(), datetime.now(timezone.utc))
        if key not in computed.entries:
            raise ApiError(404, "no_entry", f"no entry {key} (no statistics for this website in the window)")
        return computed.entries[key]

    return envelope(svc.cache_aside(entry, key, compute))


def _choice(value: int, allowed: tuple[int, ...], field: str) -> int:
    if value not in allowed:
        raise queries.QueryError(field, f"must be one of {', '.join(map(str, allowed))}")
    return value


@router.get("/api/v1/activity-trends", response_model=EntryResponse, responses=ERRORS,
            summary="Daily activity for the last 7, 14 or 30 full days")
def activity_trends(days: int = 30, website_id: Website = None, key: ApiKey = Depends(require_api_key),
                    svc: Services = Depends(services)) -> Response:
    """The ``analytics:activity-trends:{scope}:{days}`` entry."""
    days = _choice(days, E.ACTIVITY_TRENDS_DAYS, "days")
    scope = website_scope(svc, key, website_id) or E.ALL
    return _warmed(svc, "activity-trends", "activity-trends", E.activity_trends_key(scope, days))


@router.get("/api/v1/user-growth", response_model=EntryResponse, responses=ERRORS,
            summary="Monthly visitors and growth for the last 6, 12 or 24 full months")
def user_growth(months: int = 12, website_id: Website = None, key: ApiKey = Depends(require_api_key),
                svc: Services = Depends(services)) -> Response:
    """The ``analytics:user-growth:{scope}:{months}`` entry."""
    months = _choice(months, E.USER_GROWTH_MONTHS, "months")
    scope = website_scope(svc, key, website_id) or E.ALL
    return _warmed(svc, "user-growth", "user-growth", E.user_growth_key(scope, months))


@router.get("/api/v1/top-items", response_model=EntryResponse, responses=ERRORS,
            summary="Top pages, referrers and custom events of the last 30 full days")
def top_items(limit: int = 10, website_id: Website = None, key: ApiKey = Depends(require_api_key),
              svc: Services = Depends(services)) -> Response:
    """The ``analytics:top-items:{scope}:{limit}`` entry."""
    limit = _choice(limit, E.TOP_ITEMS_LIMITS, "limit")
    scope = website_scope(svc, key, website_id) or E.ALL
    return _warmed(svc, "top-items", "top-items", E.top_items_key(scope, limit))


@router.get("/api/v1/recent-activity", response_model=EntryResponse, responses=ERRORS,
            summary="The latest 10 or 20 events")
def recent_activity(limit: int = 10, website_id: Website = None, key: ApiKey = Depends(require_api_key),
                    svc: Services = Depends(services)) -> Response:
    """The ``analytics:recent-activity:{scope}:{limit}`` entry."""
    limit = _choice(limit, E.RECENT_ACTIVITY_LIMITS, "limit")
    scope = website_scope(svc, key, website_id) or E.ALL
    return _warmed(svc, "recent-activity", "recent-activity", E.recent_activity_key(scope, limit))


@router.get("/api/v1/performance-metrics", response_model=EntryResponse, responses=ERRORS,
            summary="The cache jobs' performance entry (query durations, hits and misses)")
def performance_metrics(key: ApiKey = Depends(require_api_key), svc: Services = Depends(services)) -> Response:
    """The ``analytics:performance-metrics`` entry (computed from the job-status entries on a miss)."""
    raw = svc.cache_get(E.PERFORMANCE_METRICS_KEY)
    if raw is not None:
        return envelope(Served(raw=raw, cached=True, stale=svc.warehouse_recently_down))
    try:
        computed = warm.performance_metrics_entries(svc.cache(), datetime.now(timezone.utc))
    except Exception as exc:  # the cache is down: nothing to report from
        raise ApiError(503, "cache_unavailable", "the cache is unavailable", reason=str(exc)[:200]) from exc
    return envelope(Served(raw=warm.encode(computed.entries[E.PERFORMANCE_METRICS_KEY]), cached=False))
