"""Response shapes for the OpenAPI page (``/docs``). Routes answer plain JSON; these models
document it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_parameter"])
    message: str = Field(examples=["from: is after 'to'"])
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Summary(BaseModel):
    totalEvents: int = Field(examples=[1250])
    uniqueUsers: int = Field(examples=[342])
    eventsByType: dict[str, int] = Field(examples=[{"pageview": 800, "signup": 350, "purchase": 100}])


class SummaryResponse(BaseModel):
    data: Summary
    cached: bool
    stale: bool | None = Field(None, description="present (true) only when the warehouse is down and the answer came from the cache")


class Card(BaseModel):
    value: float
    previous: float
    change: float | None = Field(None, description="relative change against the previous period; null when it was 0")


class BounceCard(BaseModel):
    value: float = Field(description="share of sessions with one pageview, 0..1")
    previous: float
    changePoints: float | None = Field(None, description="change in percentage points")


class Cards(BaseModel):
    pageviews: Card
    visitors: Card
    sessions: Card
    bounceRate: BounceCard
    avgSessionDurationSeconds: Card
    customEvents: Card


class Ranked(BaseModel):
    item: str
    count: int


class TrendPoint(BaseModel):
    date: str
    pageviews: int
    customEvents: int
    visitors: int
    sessions: int
    bounceRate: float


class Dashboard(BaseModel):
    scope: str = Field(examples=["all"])
    timeframe: str = Field(examples=["30d"])
    to_: str = Field(alias="to", examples=["2024-03-10"], description="exclusive")
    from_: str = Field(alias="from", examples=["2024-02-09"])
    days: int
    previous: dict[str, str]
    generatedAt: str
    cards: Cards
    eventsByType: dict[str, int]
    topPages: list[Ranked]
    topReferrers: list[Ranked]
    trend: list[TrendPoint]


class DashboardResponse(BaseModel):
    data: Dashboard
    cached: bool
    stale: bool | None = None


class EntryResponse(BaseModel):
    data: dict[str, Any] = Field(description="the cache entry's value, as documented for its key")
    cached: bool
    stale: bool | None = None


class Website(BaseModel):
    id: str
    name: str
    timezone: str


class JobStatus(BaseModel):
    id: str = Field(examples=["cache_refresh_job"])
    name: str
    status: str = Field(description="running | completed | failed | scheduled (never ran)")
    lastRun: str | None
    nextRun: str | None
    duration: float | None = Field(None, description="seconds of the last run")
    error: str | None = None
    runId: str | None = None


class JobMetrics(BaseModel):
    totalJobs: int
    successfulJobs: int
    failedJobs: int
    runningJobs: int
    averageJobDuration: float | None
    lastCleanup: str | None
    since: str


class RunAccepted(BaseModel):
    runId: str
    job: str
    status: str = Field(examples=["queued"])
    partition: str | None = None
    statusUrl: str | None = None
    note: str | None = None


class RunStatus(BaseModel):
    runId: str
    job: str
    status: str = Field(description="queued | running | completed | failed | canceled")
    partition: str | None = None
    createdAt: str | None = None
    startedAt: str | None = None
    endedAt: str | None = None
    error: str | None = None
    files: list[dict[str, Any]] = []


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    checks: dict[str, dict[str, Any]] = {}
