"""Which raw days retention may delete, and which the guard keeps, and why.

Pure logic: the caller gathers the facts (raw events per day and website, the statistics rows,
the ``stats_dirty`` marks, the Dagster partitions of the statistics assets that have been
materialized) and :func:`plan_retention` decides. No Dagster, no SQL, so the guard is tested
on its own.

The boundary: ``cutoff = today (UTC) - retention_days``. A UTC day strictly before the cutoff
is eligible; the cutoff day itself is kept. With the default 90 days, on 2024-04-30 the cutoff
is 2024-01-31: events of 2024-01-30 and earlier go (91+ days old), events of 2024-01-31
("exactly 90 days old") stay until the next run.

The guard: an eligible day with raw events is deleted only when, for the day, its Monday week
and its month (``daily_stats``, ``weekly_stats``, ``monthly_stats``):

1. the Dagster partition has been materialized,
2. the period has no ``stats_dirty`` mark (no events arrived since it was built), and
3. for every website with events that day: the ``daily_stats`` row counts exactly the raw
   events (``total_pageviews + total_custom_events``), and the daily, weekly and monthly rows
   exist and were computed no earlier than the day's last ingested event.

Anything else keeps the day, with every reason found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from analytics_pipeline.partitions import period_start

GRAINS = ("day", "week", "month")
STATS_ASSET = {"day": "daily_stats", "week": "weekly_stats", "month": "monthly_stats"}
# A day failing for many websites names the first few and counts the rest.
MAX_REASONS_PER_DAY = 6


def retention_cutoff(today: date, retention_days: int) -> date:
    """The first UTC day that is kept: ``today - retention_days``."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    return today - timedelta(days=retention_days)


@dataclass(frozen=True)
class WebsiteDay:
    """One website's raw events on one UTC day, and the statistics rows that should cover them."""

    website_id: str
    events: int
    last_ingested_at: datetime | None = None
    daily_events: int | None = None  # total_pageviews + total_custom_events; None: no row
    daily_computed_at: datetime | None = None
    weekly_computed_at: datetime | None = None  # None: no weekly_stats row
    monthly_computed_at: datetime | None = None  # None: no monthly_stats row


@dataclass(frozen=True)
class DayDecision:
    """The guard's verdict on one eligible day."""

    day: date
    events: int
    reasons: tuple[str, ...] = ()

    @property
    def delete(self) -> bool:
        return not self.reasons


@dataclass
class RetentionPlan:
    today: date
    retention_days: int
    cutoff: date
    decisions: list[DayDecision] = field(default_factory=list)

    @property
    def days_to_drop(self) -> list[date]:
        return [d.day for d in self.decisions if d.delete]

    @property
    def days_kept(self) -> list[DayDecision]:
        return [d for d in self.decisions if not d.delete]

    @property
    def events_to_delete(self) -> int:
        return sum(d.events for d in self.decisions if d.delete)

    @property
    def sessions_before(self) -> date:
        """Sessions whose last activity is before this day's midnight are deleted: the cutoff,
        or the first day the guard keeps when earlier, so that every deleted session's events
        lie on days that are gone (a kept day's statistics can still be rebuilt, sessions
        included)."""
        kept = [d.day for d in self.days_kept]
        return min([self.cutoff, *kept])


def guard_reasons(
    day: date,
    websites: Sequence[WebsiteDay],
    materialized: Mapping[str, Iterable[str]],
    dirty: Iterable[tuple[str, date]],
) -> list[str]:
    """Why ``day`` must be kept (empty: its statistics are complete and it may go).

    ``materialized`` maps a grain (``day``/``week``/``month``) to the partition keys of its
    statistics asset that have a materialization; ``dirty`` holds ``(grain, period_start)``.
    """
    if sum(w.events for w in websites) == 0:
        return []  # nothing raw to lose
    dirty_set = set(dirty)
    reasons: list[str] = []
    for grain in GRAINS:
        start = period_start(grain, day)
        key = start.isoformat()
        asset = STATS_ASSET[grain]
        if key not in set(materialized.get(grain, ())):
            reasons.append(f"{asset} partition {key} has never been materialized")
        if (grain, start) in dirty_set:
            reasons.append(f"{asset} partition {key} is stale: events arrived after it was built")
    site_reasons: list[str] = []
    for w in websites:
        if w.events == 0:
            continue
        site_reasons.extend(_website_reasons(day, w))
    if len(site_reasons) > MAX_REASONS_PER_DAY:
        more = len(site_reasons) - MAX_REASONS_PER_DAY
        site_reasons = site_reasons[:MAX_REASONS_PER_DAY] + [f"... and {more} more"]
    return reasons + site_reasons


def _website_reasons(day: date, w: WebsiteDay) -> list[str]:
    reasons: list[str] = []
    site = w.website_id
    if w.daily_events is None:
        reasons.append(f"no daily_stats row for website {site} ({w.events} raw events)")
    elif w.daily_events != w.events:
        reasons.append(
            f"daily_stats for website {site} counts {w.daily_events} events, the raw day has {w.events}"
        )
    for grain, computed_at in (
        ("day", w.daily_computed_at if w.daily_events is not None else None),
        ("week", w.weekly_computed_at),
        ("month", w.monthly_computed_at),
    ):
        key = period_start(grain, day).isoformat()
        asset = STATS_ASSET[grain]
        if computed_at is None:
            if grain != "day":
                reasons.append(f"no {asset} row for website {site} in period {key}")
        elif w.last_ingested_at is not None and computed_at < w.last_ingested_at:
            reasons.append(
                f"{asset} {key} for website {site} was computed at {computed_at:%Y-%m-%d %H:%M:%S}, "
                f"before its latest event was ingested at {w.last_ingested_at:%Y-%m-%d %H:%M:%S}"
            )
    return reasons


def plan_retention(
    today: date,
    retention_days: int,
    days: Mapping[date, Sequence[WebsiteDay]],
    materialized: Mapping[str, Iterable[str]],
    dirty: Iterable[tuple[str, date]],
) -> RetentionPlan:
    """Decide every raw day before the cutoff. ``days`` maps each UTC day that has raw data (or
    an empty PostgreSQL partition: an empty list) to its websites; days on or after the cutoff
    are ignored."""
    cutoff = retention_cutoff(today, retention_days)
    dirty_set = set(dirty)
    materialized_sets = {grain: set(keys) for grain, keys in materialized.items()}
    plan = RetentionPlan(today=today, retention_days=retention_days, cutoff=cutoff)
    for day in sorted(d for d in days if d < cutoff):
        websites = days[day]
        reasons = guard_reasons(day, websites, materialized_sets, dirty_set)
        plan.decisions.append(
            DayDecision(day=day, events=sum(w.events for w in websites), reasons=tuple(reasons))
        )
    return plan


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as ``[start, end)`` runs of consecutive days."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges
