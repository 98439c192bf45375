"""Custom metrics (the metric definition files) over HTTP: ``GET /api/v1/metrics`` lists them and
``GET /api/v1/metrics/{name}`` reads daily values and range totals (the days ``from``..``to``,
both included), as :mod:`analytics_pipeline.metrics.query` answers them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from analytics_pipeline.api import queries
from analytics_pipeline.api.deps import services, website_scope
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.api.services import Services
from analytics_pipeline.metrics import query

router = APIRouter(tags=["metrics"])


def metrics_module():
    return query


def _plain(value: Any) -> Any:
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


@router.get("/api/v1/metrics", summary="The custom metric definitions")
def list_metrics(key: ApiKey = Depends(require_api_key)) -> Any:
    return _plain(metrics_module().list_metrics())


@router.get("/api/v1/metrics/{name}", summary="Daily values of one custom metric")
def metric_values(
    name: str,
    request: Request,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    website_id: Annotated[str | None, Query(max_length=200)] = None,
    dimension: Annotated[list[str] | None, Query(description="name=value filters", max_length=20)] = None,
    key: ApiKey = Depends(require_api_key),
    svc: Services = Depends(services),
) -> Any:
    module = metrics_module()
    first = queries.parse_day(from_, "from")
    last = queries.parse_day(to, "to")
    if first > last:
        raise queries.QueryError("from", "is after 'to'")
    website = website_scope(svc, key, website_id)
    filters = {}
    for item in dimension or []:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise queries.QueryError("dimension", "expected name=value")
        filters[field] = value
    try:
        values = svc.compute(lambda wh: module.metric_values(wh, name, website=website, from_day=first, to_day=last,
                                                             dimensions=filters))
    except query.UnknownMetric:
        raise ApiError(404, "unknown_metric", f"no metric file defines {name!r}") from None
    return _plain(values)
