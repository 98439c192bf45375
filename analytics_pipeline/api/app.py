"""The ASGI app: ``create_app()`` assembles the routers, key checks, limits and error bodies.

Each module in :data:`ROUTER_MODULES` exposes ``router`` (a FastAPI ``APIRouter``); a module that
does not exist yet is skipped, as CLI command modules are. Routes stay thin: the answers come
from plain functions shared with the CLI and the cache jobs.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from analytics_pipeline.api.config import ApiConfig
from analytics_pipeline.api.errors import install_error_handlers
from analytics_pipeline.api.security import BodySizeLimit, KeyStore, RateLimiter

ROUTER_MODULES = [
    "analytics_pipeline.api.routes.health",
    "analytics_pipeline.api.routes.analytics",
    "analytics_pipeline.api.routes.jobs",
    "analytics_pipeline.api.routes.reports",
    "analytics_pipeline.api.routes.metrics",
    "analytics_pipeline.api.routes.stream",
    "analytics_pipeline.intake.routes",
    "analytics_pipeline.api.routes.dashboard",
]


def _routers():
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # that area is not built (yet)
            raise
        yield module.router


def create_app(config: ApiConfig | None = None) -> FastAPI:
    """The serving app configured from ``config`` (default: the environment now)."""
    config = config or ApiConfig.from_env()
    app = FastAPI(
        title="analytics_pipeline API",
        summary="Statistics, warmed dashboard entries, reports, runs and event intake.",
        version="1.0.0",
    )
    app.state.config = config
    app.state.key_store = KeyStore(config)
    app.state.rate_limiter = RateLimiter()
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type", "Content-Encoding"])
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    return app
