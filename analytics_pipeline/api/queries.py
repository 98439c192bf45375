"""What the API answers, computed from the warehouse: plain functions, no FastAPI, no cache.

The routes call these on a cache miss; the CLI, the benchmark and the tests call them directly.
Days are each website's local days (:mod:`analytics_pipeline.websites`): a *whole day* of a
range is a local day that lies entirely inside ``[from, to)``. Whole days that the statistics
already cover are read from ``daily_stats``; the rest of the range (partial days at either end,
and days after the newest aggregated day) is counted from ``events``. Distinct visitors cannot
be summed from days, so ``uniqueUsers`` is always counted from ``events`` over the exact range
(see :mod:`analytics_pipeline.api.visitors` for how that stays fast).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from analytics_pipeline.cache import entries as E
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, local_midnight, zone_groups

TIMEFRAMES = {"7d": 7, "30d": 30, "90d": 90}
TOP_N = 10


class QueryError(ValueError):
    """A request parameter that cannot be answered; the API turns it into a 400."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


# -- parameters -----------------------------------------------------------------------------
def parse_instant(text: str | None, field: str) -> datetime:
    """An ISO 8601 instant (``2024-03-01T00:00:00.000Z``, an offset, or a date meaning its UTC
    midnight); a value without an offset is UTC."""
    if text is None or not str(text).strip():
        raise QueryError(field, "is required (an ISO 8601 timestamp, e.g. 2024-03-01T00:00:00.000Z)")
    value = str(text).strip()
    if len(value) > 40:
        raise QueryError(field, "is not an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise QueryError(field, f"{value[:40]!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise QueryError(field, "is out of range") from None
    if not 1970 <= moment.year <= 9998:
        raise QueryError(field, "must be between 1970 and 9998")
    return moment


def parse_range(start: str | None, end: str | None, max_days: int) -> tuple[datetime, datetime]:
    """``[from, to)``: both required, ``from <= to`` (equal is an empty range), at most
    ``max_days`` long."""
    first, last = parse_instant(start, "from"), parse_instant(end, "to")
    if first > last:
        raise QueryError("from", "is after 'to'")
    if last - first > timedelta(days=max_days):
        raise QueryError("to", f"the range is longer than {max_days} days; ask for a shorter one")
    return first, last


def parse_day(text: str | None, field: str) -> date:
    value = str(text).strip() if text is not None else ""
    if not value:
        raise QueryError(field, "is required (a date, YYYY-MM-DD)")
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise QueryError(field, f"{value[:40]!r} is not a date (YYYY-MM-DD)")


def dashboard_window(timeframe: str | None, start: str | None, end: str | None, today: date,
                     max_days: int) -> tuple[date, date, str]:
    """``(first_day, end_day, label)``: ``timeframe`` ``7d``/``30d``/``90d`` is the last N full
    days before ``today``; or ``from``/``to`` dates, both inclusive. ``end_day`` is exclusive."""
    if start is not None or end is not None:
        first, last = parse_day(start, "from"), parse_day(end, "to")
        if first > last:
            raise QueryError("from", "is after 'to'")
        if (last - first).days + 1 > max_days:
            raise QueryError("to", f"the range is longer than {max_days} days; ask for a shorter one")
        return first, last + timedelta(days=1), "custom"
    label = timeframe or "30d"
    if label not in TIMEFRAMES:
        raise QueryError("timeframe", f"must be one of {', '.join(TIMEFRAMES)} (or give from and to)")
    return today - timedelta(days=TIMEFRAMES[label]), today, label


# -- website filters ------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteFilter:
    """Websites a query covers: ``include`` ids, or every website except ``exclude`` (None)."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"include_all": 1 if self.include is None else 0, "include": list(self.include or ()),
                "exclude": list(self.exclude)}


EVERY_SITE = SiteFilter()


def scope_filter(website_id: str | None) -> SiteFilter:
    return EVERY_SITE if website_id is None else SiteFilter((website_id,))


def zone_filters(directory: WebsiteDirectory, website_id: str | None) -> list[tuple[str, SiteFilter]]:
    """``(time zone, filter)`` per group of websites that share a zone (one for a website)."""
    if website_id is not None:
        return [(directory.timezone_name(website_id), SiteFilter((website_id,)))]
    return [(g.timezone, SiteFilter(g.include, g.exclude)) for g in zone_groups(directory)]


def rows(warehouse: Warehouse, name: str, params: Mapping[str, Any], sites: SiteFilter) -> list[dict[str, Any]]:
    """One ``select_api_*`` SQL file with the website filter bound (expanding IN lists)."""
    statement = warehouse.sql(name).bindparams(sa.bindparam("include", expanding=True, type_=sa.String),
                                               sa.bindparam("exclude", expanding=True, type_=sa.String))
    with warehouse.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(statement, {**params, **sites.params()})]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


def latest_stats(warehouse: Warehouse) -> tuple[date | None, datetime | None]:
    """The newest aggregated day and when statistics were last computed."""
    row = warehouse.query("select_api_latest_stats")[0]
    return Warehouse.to_date(row["last_day"]), Warehouse.to_datetime(row["computed_at"])


def websites(warehouse: Warehouse) -> list[str]:
    return [r["website_id"] for r in warehouse.query("select_api_websites")]


def whole_days(zone: str, start: datetime, end: datetime) -> tuple[date, date]:
    """``(first, end)`` local dates: the days ``first <= d < end`` of ``zone`` that lie entirely
    inside ``[start, end)`` (``first == end`` when there is none)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    first = start.astimezone(tz).date()
    if local_midnight(zone, first) < start:
        first += timedelta(days=1)
    last = end.astimezone(tz).date()
    while last > first and local_midnight(zone, last) > end:
        last -= timedelta(days=1)
    return first, max(first, last)


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# -- the summary ----------------------------------------------------------------------------
def summary(warehouse: Warehouse, start: datetime, end: datetime, website_id: str | None,
            directory: WebsiteDirectory, unique_users=None) -> dict[str, Any]:
    """``{"totalEvents", "uniqueUsers", "eventsByType"}`` over ``start <= occurred_at < end``
    for one website or all. ``unique_users(warehouse, start, end, sites)`` counts distinct
    visitors (default: one ``count(DISTINCT visitor_id)`` query)."""
    last_day, _ = latest_stats(warehouse)
    by_type: Counter = Counter()
    for zone, sites in zone_filters(directory, website_id):
        first, end_day = whole_days(zone, start, end)
        stats_end = min(end_day, last_day + timedelta(days=1)) if last_day else first
        spans = [(start, end)]
        if first < stats_end:
            for row in rows(warehouse, "select_api_daily_events_by_type",
                            {"from_day": warehouse.day(first), "to_day": warehouse.day(stats_end)}, sites):
                by_type[row["event_type"]] += int(row["count"])
            covered = (local_midnight(zone, first), local_midnight(zone, stats_end))
            spans = [(a, b) for a, b in ((start, covered[0]), (covered[1], end)) if a < b]
        for a, b in spans:
            for row in rows(warehouse, "select_api_event_counts_by_type",
                            {"from": warehouse.ts(a), "to": warehouse.ts(b)}, sites):
                by_type[row["event_type"]] += int(row["count"])
    by_type = Counter({k: v for k, v in by_type.items() if v})
    counter = unique_users or count_unique_visitors
    return {
        "totalEvents": sum(by_type.values()),
        "uniqueUsers": counter(warehouse, start, end, scope_filter(website_id)) if start < end else 0,
        "eventsByType": _ordered(by_type),
    }


def count_unique_visitors(warehouse: Warehouse, start: datetime, end: datetime, sites: SiteFilter) -> int:
    found = rows(warehouse, "select_api_unique_visitors", {"from": warehouse.ts(start), "to": warehouse.ts(end)}, sites)
    return int(found[0]["unique_users"] or 0)


# -- the dashboard --------------------------------------------------------------------------
def _totals(day_rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    started = sum(int(r["sessions_started"]) for r in day_rows)
    bounces = sum(float(r["bounce_rate"]) * int(r["sessions_started"]) for r in day_rows)
    duration = sum(float(r["avg_session_duration_seconds"]) * int(r["sessions_started"]) for r in day_rows)
    return {
        "pageviews": sum(int(r["total_pageviews"]) for r in day_rows),
        "customEvents": sum(int(r["total_custom_events"]) for r in day_rows),
        "sessions": started,
        "bounceRate": round(bounces / started, 6) if started else 0.0,
        "avgSessionDurationSeconds": round(duration / started, 3) if started else 0.0,
    }


def _change(value: float, previous: float) -> float | None:
    return round((value - previous) / previous, 4) if previous else None


def _visitors(warehouse: Warehouse, directory: WebsiteDirectory, website_id: str | None,
              first: date, end: date, unique_users=None) -> int:
    """Distinct visitors of each website over its local days ``[first, end)``, summed over
    websites (a visitor id belongs to one website). ``unique_users`` (the visitor index)
    counts one website at a time; without it, one SQL query per time zone."""
    total = 0
    sites_with_stats = None
    for zone, sites in zone_filters(directory, website_id):
        start, stop = local_midnight(zone, first), local_midnight(zone, end)
        if unique_users is None:
            found = rows(warehouse, "select_api_unique_visitors_by_website",
                         {"from": warehouse.ts(start), "to": warehouse.ts(stop)}, sites)
            total += sum(int(r["unique_visitors"]) for r in found)
            continue
        if sites.include is not None:
            members = list(sites.include)
        else:
            if sites_with_stats is None:
                sites_with_stats = websites(warehouse)
            members = [w for w in sites_with_stats if w not in sites.exclude]
        total += sum(unique_users(warehouse, start, stop, SiteFilter((member,))) for member in members)
    return total


def _top(warehouse: Warehouse, directory: WebsiteDirectory, website_id: str | None, dimension: str,
         first: date, end: date) -> list[dict[str, Any]]:
    """Top pages or referrers over the local days ``[first, end)``, exact from events (within a
    time zone; across zones, each zone's top 50 merged)."""
    groups = zone_filters(directory, website_id)
    counts: Counter = Counter()
    for zone, sites in groups:
        for row in rows(warehouse, f"select_api_top_{dimension}",
                        {"from": warehouse.ts(local_midnight(zone, first)),
                         "to": warehouse.ts(local_midnight(zone, end)),
                         "top_n": TOP_N if len(groups) == 1 else 5 * TOP_N}, sites):
            counts[row["item"] if row["item"] is not None else "(none)"] += int(row["count"])
    return [{"item": k, "count": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]]


def dashboard(warehouse: Warehouse, first: date, end: date, website_id: str | None,
              directory: WebsiteDirectory, *, now: datetime, warmed_top_items: Mapping[str, Any] | None = None,
              label: str = "custom", unique_users=None) -> dict[str, Any]:
    """The dashboard over the local days ``[first, end)`` and the same number of days before:
    metric cards with their change, events by type, top pages and referrers, the daily trend.
    ``unique_users`` counts distinct visitors (the visitor index; default SQL)."""
    days = (end - first).days
    previous_first = first - timedelta(days=days)
    sites = scope_filter(website_id)
    day_rows = rows(warehouse, "select_api_daily_stats",
                    {"from_day": warehouse.day(previous_first), "to_day": warehouse.day(end)}, sites)
    current, before = [], []
    for row in day_rows:
        row["date"] = Warehouse.to_date(row["date"])
        (current if row["date"] >= first else before).append(row)
    now_totals, then_totals = _totals(current), _totals(before)
    visitors = _visitors(warehouse, directory, website_id, first, end, unique_users)
    visitors_before = _visitors(warehouse, directory, website_id, previous_first, first, unique_users)

    def card(name: str, value: float, previous: float) -> dict[str, Any]:
        return {"value": value, "previous": previous, "change": _change(value, previous)}

    bounce = {"value": now_totals["bounceRate"], "previous": then_totals["bounceRate"],
              "changePoints": round((now_totals["bounceRate"] - then_totals["bounceRate"]) * 100, 2)
              if before else None}
    by_type: Counter = Counter()
    trend: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in current:
        by_type.update({k: int(v) for k, v in _json(row["events_by_type"]).items()})
        trend[row["date"]].append(row)
    if warmed_top_items is not None:
        top_pages, top_referrers = warmed_top_items["pages"][:TOP_N], warmed_top_items["referrers"][:TOP_N]
    else:
        top_pages = _top(warehouse, directory, website_id, "pages", first, end)
        top_referrers = _top(warehouse, directory, website_id, "referrers", first, end)
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        point = _totals(trend.get(day, []))
        series.append({"date": day.isoformat(), "pageviews": point["pageviews"],
                       "customEvents": point["customEvents"],
                       "visitors": sum(int(r["unique_visitors"]) for r in trend.get(day, [])),
                       "sessions": point["sessions"], "bounceRate": point["bounceRate"]})
    return {
        "scope": website_id or E.ALL,
        "timeframe": label,
        "from": first.isoformat(),
        "to": end.isoformat(),
        "days": days,
        "previous": {"from": previous_first.isoformat(), "to": first.isoformat()},
        "generatedAt": E.iso_ms(now),
        "cards": {
            "pageviews": card("pageviews", now_totals["pageviews"], then_totals["pageviews"]),
            "visitors": card("visitors", visitors, visitors_before),
            "sessions": card("sessions", now_totals["sessions"], then_totals["sessions"]),
            "bounceRate": bounce,
            "avgSessionDurationSeconds": card("duration", now_totals["avgSessionDurationSeconds"],
                                              then_totals["avgSessionDurationSeconds"]),
            "customEvents": card("customEvents", now_totals["customEvents"], then_totals["customEvents"]),
        },
        "eventsByType": _ordered(by_type),
        "topPages": top_pages,
        "topReferrers": top_referrers,
        "trend": series,
    }
