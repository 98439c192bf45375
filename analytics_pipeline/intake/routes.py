"""``POST /api/events`` and ``POST /api/events/batch``: thin HTTP around :mod:`.events` and
:mod:`.commit`.

A request is answered ``202`` only after its accepted events are written and fsynced to an
intake file in the landing directory (``docs/intake.md`` explains the guarantees). The body is
parsed with orjson here, not by a pydantic model: a batch of 1,000 events costs one parse.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.routing import Route

from analytics_pipeline.api.errors import ApiError, error_body
from analytics_pipeline.api.security import authenticate, charge
from analytics_pipeline.intake.commit import GroupCommitter, IntakeUnavailable
from analytics_pipeline.intake.config import IntakeConfig
from analytics_pipeline.intake.events import BodyProblem, Verdicts, check_events, read_events
from analytics_pipeline.intake.landing import LandingWriter
from analytics_pipeline.intake.metrics import IntakeMetrics


@dataclass
class Intake:
    config: IntakeConfig
    committer: GroupCommitter
    metrics: IntakeMetrics


@asynccontextmanager
async def intake_lifespan(app: FastAPI):
    """Start the intake with the server (finishing files an earlier process left open) and
    finish the open file when the server stops. Tests and benchmarks may set
    ``app.state.intake_config`` before start-up."""
    config = getattr(app.state, "intake_config", None) or IntakeConfig.from_env()
    committer = GroupCommitter(LandingWriter(config.landing_dir, config.rotate_bytes, config.rotate_seconds))
    await committer.start()
    metrics = IntakeMetrics(committer.stats)
    registry = getattr(getattr(app.state, "metrics", None), "registry", None)
    if registry is not None:  # the app's /metrics registry
        metrics.register(registry)
    app.state.intake = Intake(config, committer, metrics)
    # Everything the server allocated at start-up (Dagster, pydantic, FastAPI) is moved out of
    # the cyclic collector's way: a batch allocates thousands of small objects, and a full
    # collection scanning the start-up heap made its p99 ten times its p50.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        await committer.stop()


router = APIRouter(tags=["event intake"], lifespan=intake_lifespan)

_EXAMPLE_EVENT = {
    "event_id": "3f1c9a6e-0b7d-4d1e-9a57-2f7e1c1b9d10",
    "website_id": "shop",
    "session_id": "s-8c2d",
    "visitor_id": "v-51f0",
    "event_type": "pageview",
    "url_path": "/pricing",
    "referrer": "https://www.google.com/",
    "occurred_at": "2024-03-01T10:00:00Z",
    "properties": {"plan": "pro"},
}
_RESULTS_EXAMPLE = {"accepted": 1, "rejected": 0,
                    "results": [{"index": 0, "event_id": _EXAMPLE_EVENT["event_id"], "status": "accepted"}]}


def _openapi(body: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "description": description,
                        "content": {"application/json": {"example": body}}},
        "responses": {
            "202": {"description": "Accepted events are durable (fsynced); one result per event",
                    "content": {"application/json": {"example": _RESULTS_EXAMPLE}}},
            "400": {"description": "Invalid body, or no event accepted (the results say why)"},
            "401": {"description": "Missing or invalid API key"},
            "403": {"description": "Every event is for a website this key may not send for"},
            "413": {"description": "Body (or its decompressed form, or the batch) too large"},
            "415": {"description": "Content-Encoding other than gzip"},
            "429": {"description": "Rate limit reached; see Retry-After"},
            "503": {"description": "The events could not be stored; nothing was accepted, retry"},
        },
    }


def _json(payload: Any, status: int) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _answer(verdicts: Verdicts) -> Response:
    payload: dict[str, Any] = {"accepted": verdicts.accepted, "rejected": verdicts.rejected,
                               "results": verdicts.results}
    if verdicts.accepted:
        return _json(payload, 202)
    if verdicts.forbidden == verdicts.rejected:
        payload.update(error_body("forbidden_website", "this API key may not send events for these websites"))
        return _json(payload, 403)
    reasons = {r["reason"] for r in verdicts.results}
    message = next(iter(reasons)) if len(reasons) == 1 else "no event was accepted; see results"
    payload.update(error_body("no_event_accepted", message))
    return _json(payload, 400)


async def _intake(request: Request, batch: bool) -> Response:
    intake: Intake | None = getattr(request.app.state, "intake", None)
    if intake is None:
        raise ApiError(503, "intake_not_running", "the event intake has not started (server lifespan disabled?)")
    try:
        verdicts = await _store(request, intake, batch)
    except ApiError as refused:
        intake.metrics.record(str(refused.status), 0, 0)
        raise
    response = _answer(verdicts)
    intake.metrics.record(str(response.status_code), verdicts.accepted, verdicts.rejected)
    return response


async def _store(request: Request, intake: Intake, batch: bool) -> Verdicts:
    """The request's verdicts, once its accepted events are durable; ApiError when the request
    as a whole is refused (nothing of it is stored then)."""
    key = authenticate(request)  # a plain call: these routes are not FastAPI routes (see below)
    try:
        events, careful = read_events(await request.body(), request.headers.get("content-encoding"), batch,
                                      request.app.state.config.max_body_bytes, intake.config.max_batch_events)
    except BodyProblem as problem:
        charge(request, key, 1, "events")
        raise ApiError(problem.status, problem.code, problem.message) from None
    charge(request, key, len(events), "events")
    verdicts = check_events(events, datetime.now(timezone.utc), key.allows, careful, intake.config.start_date)
    if verdicts.accepted:
        try:
            await intake.committer.append(verdicts.lines)
        except IntakeUnavailable as exc:
            raise ApiError(503, "intake_unavailable", str(exc), headers={"Retry-After": "1"}) from None
    return verdicts


async def post_event(request: Request) -> Response:
    """Validate one event and store it durably; ``202`` once it is fsynced."""
    request.scope["route"] = _SINGLE_ROUTE  # as FastAPI routes do: request metrics label by template
    return await _intake(request, batch=False)


async def post_events_batch(request: Request) -> Response:
    """Validate each event; store the accepted ones durably; ``202`` once they are fsynced."""
    request.scope["route"] = _BATCH_ROUTE
    return await _intake(request, batch=True)


# The endpoints are served as plain Starlette routes: FastAPI's per-route machinery (dependency
# solving, telemetry) costs more than the whole intake of a single event. Registered first,
# they take every request; the FastAPI routes below, with the same endpoints, only describe
# them on the OpenAPI page (and would answer the same if they were ever reached).
_SINGLE_ROUTE = Route("/api/events", post_event, methods=["POST"], include_in_schema=False)
_BATCH_ROUTE = Route("/api/events/batch", post_events_batch, methods=["POST"], include_in_schema=False)
router.routes.extend([_SINGLE_ROUTE, _BATCH_ROUTE])
router.add_api_route("/api/events", post_event, methods=["POST"], status_code=202, summary="Send one event",
                     openapi_extra=_openapi(_EXAMPLE_EVENT, "One event as a JSON object (gzip allowed)"))
router.add_api_route("/api/events/batch", post_events_batch, methods=["POST"], status_code=202,
                     summary="Send a batch of events",
                     openapi_extra=_openapi([_EXAMPLE_EVENT], "A JSON array of events (gzip allowed)"))
