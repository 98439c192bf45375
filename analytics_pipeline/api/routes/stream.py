"""Server-Sent Events: the dashboard pushed each time the pipeline refreshes the cache.

With Redis the stream subscribes to ``analytics:refresh`` (every warming job publishes there
after writing its entries; ``analytics:refresh:dbN`` for a cache on database N); with the embedded cache it polls the warming jobs' status entries
every ``ANALYTICS_API_STREAM_POLL_SECONDS``. Each push is ``event: dashboard`` with the same
JSON as ``GET /api/v1/dashboard`` plus ``refreshedBy``; a comment line every 15 s keeps proxies
from closing an idle stream. ``EventSource`` cannot send headers: pass the key as ``?key=``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from analytics_pipeline.api.deps import services, website_scope
from analytics_pipeline.api.errors import ApiError
from analytics_pipeline.api.routes.dashboard import build_dashboard
from analytics_pipeline.api.security import ApiKey, require_api_key
from analytics_pipeline.api.services import Services
from analytics_pipeline.cache import entries as E
from analytics_pipeline.cache.backends import db_channel
from analytics_pipeline.cache.warm import REFRESH_CHANNEL, WARMING_JOBS

router = APIRouter(tags=["dashboard"])
KEEPALIVE_SECONDS = 15.0


def _event(payload: dict, number: int) -> bytes:
    return f"event: dashboard\nid: {number}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def _redis_refreshes(url: str, request: Request) -> AsyncIterator[str | None]:
    """The job id of each refresh notice; None every KEEPALIVE_SECONDS of silence."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(db_channel(REFRESH_CHANNEL, client.connection_pool.connection_kwargs.get("db", 0)))
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS)
            if message is None:
                yield None
                continue
            try:
                yield str(json.loads(message["data"]).get("job", "cache"))
            except (ValueError, AttributeError, TypeError):
                yield "cache"
    finally:
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception:
            pass


def _job_runs(svc: Services) -> dict[str, str]:
    found = {}
    for job_id in WARMING_JOBS:
        raw = svc.cache_get(E.job_status_key(job_id))
        if raw:
            try:
                found[job_id] = json.loads(raw).get("lastRun") or ""
            except ValueError:
                continue
    return found


async def _polled_refreshes(svc: Services, request: Request, every: float) -> AsyncIterator[str | None]:
    seen = await run_in_threadpool(_job_runs, svc)
    quiet = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(every)
        current = await run_in_threadpool(_job_runs, svc)
        changed = sorted(j for j, at in current.items() if seen.get(j) != at)
        seen = current
        if changed:
            quiet = 0.0
            yield changed[0]
        else:
            quiet += every
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield None


@router.get("/api/v1/stream", summary="Server-Sent Events: the dashboard after every cache refresh",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "event: dashboard, data: the dashboard JSON plus refreshedBy"}})
async def stream(
    request: Request,
    timeframe: Annotated[str | None, Query(max_length=20)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    website_id: Annotated[str | None, Query(max_length=200)] = None,
    key: ApiKey = Depends(require_api_key),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """Same parameters as ``/api/v1/dashboard``; the first event is sent at once."""
    config = request.app.state.config
    website = await run_in_threadpool(website_scope, svc, key, website_id)

    async def dashboard(fresh: bool, refreshed_by: str | None) -> dict:
        served = await run_in_threadpool(build_dashboard, svc, website, timeframe, from_, to,
                                         config.max_range_days, fresh=fresh,
                                         unique_users=request.app.state.visitor_index.count)
        return {"data": served.json_value(), "cached": served.cached, "stale": served.stale,
                "refreshedBy": refreshed_by}

    first = await dashboard(False, None)  # bad parameters fail here, as a 400 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        number = 1
        yield b"retry: 3000\n" + _event(first, number)
        source = (_redis_refreshes(svc.redis_url, request) if svc.redis_url
                  else _polled_refreshes(svc, request, config.stream_poll_seconds))
        async for job in source:
            if job is None:
                yield b": keep-alive\n\n"
                continue
            number += 1
            try:
                yield _event(await dashboard(True, job), number)
            except ApiError as exc:
                yield f"event: problem\ndata: {json.dumps({'code': exc.code, 'message': exc.message})}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
