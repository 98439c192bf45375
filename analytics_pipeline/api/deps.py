"""FastAPI dependencies and response helpers shared by the routers."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.queries import websites as stats_websites
from analytics_pipeline.api.security import ApiKey
from analytics_pipeline.api.services import Served, Services, WarehouseDown

ALL = "all"
KNOWN_WEBSITES_SECONDS = 60.0


async def services(request: Request) -> Services:
    return request.app.state.services


def known_websites(services: Services) -> set[str] | None:
    """Websites in the websites file or with statistics (re-read every minute); None when the
    warehouse cannot say."""
    cached = getattr(services, "_known_websites", None)
    if cached is not None and time.monotonic() - cached[0] < KNOWN_WEBSITES_SECONDS:
        return cached[1]
    try:
        found = set(services.compute(stats_websites))
    except WarehouseDown:
        return None
    found |= set(services.websites().websites)
    services._known_websites = (time.monotonic(), found)
    return found


def website_scope(services: Services, key: ApiKey, website_id: str | None) -> str | None:
    """The website a request is about (None: every website), checked against the key's scope
    and the known websites: 403 outside the key's websites, 404 for a website nobody knows."""
    if website_id is not None:
        website_id = website_id.strip()
    if website_id in (None, "", ALL):
        key.check_website(None)
        return None
    if len(website_id) > 64:
        raise ApiError(400, "invalid_parameter", "website_id: at most 64 characters", field="website_id")
    key.check_website(website_id)
    known = known_websites(services)
    if known is not None and website_id not in known:
        raise ApiError(404, "unknown_website", f"no website {website_id!r} in the websites file or the statistics",
                       field="website_id")
    return website_id


def require_all_websites(key: ApiKey) -> None:
    """Operations over the whole pipeline (runs, reports) need a key for every website."""
    if key.websites is not None:
        raise ApiError(403, "forbidden_website", "this operation needs an API key for all websites")


def envelope(served: Served, **extra: Any) -> Response:
    """``{"data": …, "cached": bool}`` (plus ``"stale": true`` when the warehouse is down),
    written around the cached JSON text without decoding it."""
    parts = [b'{"data":', served.raw.encode() if served.raw is not None else b"null",
             b',"cached":', b"true" if served.cached else b"false"]
    if served.stale:
        parts.append(b',"stale":true')
    for name, value in extra.items():
        parts.append(f',"{name}":'.encode() + json.dumps(value).encode())
    parts.append(b"}")
    return Response(b"".join(parts), media_type="application/json")
