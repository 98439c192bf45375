"""The warmed dashboard entries, computed from the warehouse (no cache, no Dagster).

Each ``*_entries(warehouse, now)`` returns :class:`Computed`: the entries of one seed job as
``{key: JSON-able value}`` plus how long each SQL file took. Values come from the statistics
tables wherever they can (daily_stats, monthly_stats); raw events are read only for what the
statistics cannot answer exactly: SPEC §5 ``uniqueUsers`` over a range, top pages / referrers
beyond each day's top 10, and the latest events. ``docs/cache.md`` documents every key.

Every window is made of full UTC days (or months) before ``now``: "last 7 days" at
2024-03-10T15:00Z is 2024-03-03 .. 2024-03-09, i.e. ``[2024-03-03T00:00Z, 2024-03-10T00:00Z)``.
With a websites file, a website's entries use its own full local days (months) before its local
today, and ``all`` entries the days that have ended for every website (:func:`scope_end`);
the summary presets keep their UTC instants (the key names them) and are counted from events.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from analytics_pipeline.stats.zones import per_zone_rows
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import WebsiteDirectory, current_websites, local_today, today_everywhere, zones_in_use

NAMESPACE = "analytics:"
ALL = "all"
"""The scope of entries over all websites together (per-website entries use the website_id)."""

USER_GROWTH_MONTHS = (6, 12, 24)
ACTIVITY_TRENDS_DAYS = (7, 14, 30)
TOP_ITEMS_LIMITS = (10, 20, 50)
TOP_ITEMS_DAYS = 30
RECENT_ACTIVITY_LIMITS = (10, 20)
SUMMARY_DAYS = (7, 30, 90)
# Websites get per-website entries when they have statistics in this many recent days/months.
WEBSITE_LOOKBACK_DAYS = max(SUMMARY_DAYS)
WEBSITE_LOOKBACK_MONTHS = max(USER_GROWTH_MONTHS)


# -- keys -----------------------------------------------------------------------------------
def iso_ms(moment: datetime) -> str:
    """``2024-01-01T00:00:00.000Z``: UTC, millisecond precision, ``Z`` (JavaScript's
    ``toISOString``, the seed's key format)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def summary_key(start: datetime, end: datetime) -> str:
    return f"{NAMESPACE}summary:{iso_ms(start)}:{iso_ms(end)}"


def user_growth_key(scope: str, months: int) -> str:
    return f"{NAMESPACE}user-growth:{scope}:{months}"


def activity_trends_key(scope: str, days: int) -> str:
    return f"{NAMESPACE}activity-trends:{scope}:{days}"


def top_items_key(scope: str, limit: int) -> str:
    return f"{NAMESPACE}top-items:{scope}:{limit}"


def recent_activity_key(scope: str, limit: int) -> str:
    return f"{NAMESPACE}recent-activity:{scope}:{limit}"


PERFORMANCE_METRICS_KEY = f"{NAMESPACE}performance-metrics"


def job_status_key(job_id: str) -> str:
    return f"{NAMESPACE}job-status:{job_id}"


# -- time windows ---------------------------------------------------------------------------
def midnight(day: date) -> datetime:
    return datetime.combine(day, dtime(0), tzinfo=timezone.utc)


def utc_today(now: datetime) -> date:
    return now.astimezone(timezone.utc).date()


def last_full_days(now: datetime, days: int) -> tuple[date, date]:
    """``(first_day, end_day)``: the ``days`` full UTC days before ``now``; ``end_day`` (today)
    is exclusive."""
    end = utc_today(now)
    return end - timedelta(days=days), end


def add_months(month_start: date, months: int) -> date:
    index = month_start.year * 12 + month_start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_full_months(now: datetime, months: int) -> list[date]:
    """First days of the ``months`` full months before the month of ``now``, oldest first."""
    current = utc_today(now).replace(day=1)
    return [add_months(current, -k) for k in range(months, 0, -1)]


def scope_end(websites: WebsiteDirectory, scope: str, now: datetime) -> date:
    """The exclusive end day of a scope's day windows: UTC today when every website is at UTC;
    otherwise the website's local today, or for ``all`` the earliest local today among the
    zones in use (so every day of an ``all`` window has ended for every website)."""
    if websites.all_utc:
        return utc_today(now)
    return today_everywhere(websites, now) if scope == ALL else local_today(websites, scope, now)


# -- query timing ---------------------------------------------------------------------------
@dataclass
class QueryTiming:
    name: str
    seconds: float
    rows: int


@dataclass
class Computed:
    """The entries of one warming job and the SQL it ran."""

    entries: dict[str, Any] = field(default_factory=dict)
    timings: list[QueryTiming] = field(default_factory=list)

    def query(self, warehouse: Warehouse, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one SQL file, recording its duration and row count."""
        start = time.perf_counter()
        rows = warehouse.query(name, params)
        self.timings.append(QueryTiming(name, round(time.perf_counter() - start, 6), len(rows)))
        return rows


def _json(value: Any) -> Any:
    """A JSON column as Python (PostgreSQL jsonb arrives decoded, SQLite TEXT does not)."""
    if value is None:
        return None
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def websites(warehouse: Warehouse, now: datetime, computed: Computed) -> list[str]:
    """Websites that get per-website entries: statistics in the last 90 days or 24 months."""
    today = utc_today(now)
    rows = computed.query(warehouse, "select_cache_websites", {
        "since_day": warehouse.day(today - timedelta(days=WEBSITE_LOOKBACK_DAYS)),
        "since_month": warehouse.day(add_months(today.replace(day=1), -(WEBSITE_LOOKBACK_MONTHS + 1))),
    })
    return [r["website_id"] for r in rows]


def _daily_rows(warehouse: Warehouse, computed: Computed, first: date, end: date) -> list[dict[str, Any]]:
    rows = computed.query(warehouse, "select_cache_daily_stats",
                          {"from_day": warehouse.day(first), "to_day": warehouse.day(end)})
    for row in rows:
        row["date"] = Warehouse.to_date(row["date"])
        row["events_by_type"] = _json(row["events_by_type"]) or {}
    return rows


# -- user growth ----------------------------------------------------------------------------
def user_growth_entries(warehouse: Warehouse, now: datetime,
                        windows: Sequence[int] = USER_GROWTH_MONTHS) -> Computed:
    """``analytics:user-growth:{scope}:{months}``: one point per full month from monthly_stats
    (unique visitors, sessions started, unique sessions, pageviews, custom events) with the
    month-over-month growth of unique visitors."""
    out = Computed()
    sites = websites(warehouse, now, out)
    zones = current_websites()
    longest = max(windows)
    # one more month: the first point's growth
    current = {scope: scope_end(zones, scope, now).replace(day=1) for scope in [ALL, *sites]}
    months_of = {scope: [add_months(c, -k) for k in range(longest + 1, 0, -1)] for scope, c in current.items()}
    rows = out.query(warehouse, "select_cache_monthly_stats", {
        "from_month": warehouse.day(min(m[0] for m in months_of.values())),
        "to_month": warehouse.day(max(current.values())),
    })
    per_scope: dict[str, dict[date, dict[str, int]]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        month = Warehouse.to_date(row["period_start"])
        values = {
            "uniqueVisitors": int(row["unique_visitors"]),
            "uniqueSessions": int(row["unique_sessions"]),
            "sessionsStarted": int(row["sessions_started"]),
            "pageviews": int(row["total_pageviews"]),
            "customEvents": int(row["total_custom_events"]),
        }
        for scope in (row["website_id"], ALL):
            per_scope[scope][month].update(values)
    generated = iso_ms(now)
    for scope in [ALL, *sites]:
        months = months_of[scope]
        by_month = per_scope.get(scope, {})
        series = []
        for previous, month in zip(months, months[1:]):
            point = {"month": month.isoformat(), "uniqueVisitors": 0, "uniqueSessions": 0,
                     "sessionsStarted": 0, "pageviews": 0, "customEvents": 0}
            point.update(by_month.get(month, {}))
            before = by_month.get(previous, {}).get("uniqueVisitors", 0)
            point["visitorGrowthRate"] = (
                round((point["uniqueVisitors"] - before) / before, 4) if before else None
            )
            series.append(point)
        for window in windows:
            points = series[-window:]
            out.entries[user_growth_key(scope, window)] = {
                "scope": scope, "months": window, "from": points[0]["month"],
                "to": add_months(months[-1], 1).isoformat(), "generatedAt": generated,
                "series": points,
            }
    return out


# -- activity trends ------------------------------------------------------------------------
def _day_point(day: date, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    started = sum(int(r["sessions_started"]) for r in rows)
    bounce = sum(float(r["bounce_rate"]) * int(r["sessions_started"]) for r in rows)
    duration = sum(float(r["avg_session_duration_seconds"]) * int(r["sessions_started"]) for r in rows)
    return {
        "date": day.isoformat(),
        "pageviews": sum(int(r["total_pageviews"]) for r in rows),
        "customEvents": sum(int(r["total_custom_events"]) for r in rows),
        "uniqueVisitors": sum(int(r["unique_visitors"]) for r in rows),
        "uniqueSessions": sum(int(r["unique_sessions"]) for r in rows),
        "sessionsStarted": started,
        # weighted by sessions started, so "all" is the rate over every website's sessions
        "bounceRate": round(bounce / started, 6) if started else 0.0,
        "avgSessionDurationSeconds": round(duration / started, 3) if started else 0.0,
    }


def activity_trends_entries(warehouse: Warehouse, now: datetime,
                            windows: Sequence[int] = ACTIVITY_TRENDS_DAYS) -> Computed:
    """``analytics:activity-trends:{scope}:{days}``: one point per full UTC day from
    daily_stats (days without events are zeros)."""
    out = Computed()
    sites = websites(warehouse, now, out)
    zones = current_websites()
    longest = max(windows)
    ends = {scope: scope_end(zones, scope, now) for scope in [ALL, *sites]}
    rows = _daily_rows(warehouse, out, min(ends.values()) - timedelta(days=longest), max(ends.values()))
    by_scope_day: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_scope_day[(row["website_id"], row["date"])].append(row)
        by_scope_day[(ALL, row["date"])].append(row)
    generated = iso_ms(now)
    for scope in [ALL, *sites]:
        end = ends[scope]
        days = [end - timedelta(days=longest - k) for k in range(longest)]
        series = [_day_point(day, by_scope_day.get((scope, day), [])) for day in days]
        for window in windows:
            points = series[-window:]
            out.entries[activity_trends_key(scope, window)] = {
                "scope": scope, "days": window, "from": points[0]["date"], "to": end.isoformat(),
                "generatedAt": generated, "series": points,
            }
    return out


# -- top items ------------------------------------------------------------------------------
def _ranked(counts: Mapping[str, int], limit: int) -> list[dict[str, Any]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"item": item, "count": count} for item, count in ordered[:limit]]


def top_items_entries(warehouse: Warehouse, now: datetime, limits: Sequence[int] = TOP_ITEMS_LIMITS,
                      days: int = TOP_ITEMS_DAYS) -> Computed:
    """``analytics:top-items:{scope}:{limit}`` over the last 30 full days: top pages and
    referrers (exact, from events: daily_stats keeps only each day's top 10, and summing those
    lists would miss paths that rank 11th on many days) and top custom events (exact, summed
    from daily_stats.events_by_type, which lists every event name)."""
    out = Computed()
    sites = websites(warehouse, now, out)
    zones = current_websites()
    if not zones.all_utc:
        return _local_top_items(warehouse, now, limits, days, zones, sites, out)
    first, end = last_full_days(now, days)
    top_n = max(limits)
    span = {"from": warehouse.ts(midnight(first)), "to": warehouse.ts(midnight(end)), "top_n": top_n}
    lists: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"pages": [], "referrers": []})
    for dimension in ("pages", "referrers"):
        for row in out.query(warehouse, f"select_cache_top_{dimension}_by_website", span):
            lists[row["website_id"]][dimension].append({"item": row["item"], "count": int(row["count"])})
        lists[ALL][dimension] = [{"item": r["item"], "count": int(r["count"])}
                                 for r in out.query(warehouse, f"select_cache_top_{dimension}_all", span)]
    custom: dict[str, Counter] = defaultdict(Counter)
    for row in _daily_rows(warehouse, out, first, end):
        named = {k: int(v) for k, v in row["events_by_type"].items() if k != "pageview"}
        custom[row["website_id"]].update(named)
        custom[ALL].update(named)
    generated = iso_ms(now)
    for scope in [ALL, *sites]:
        for limit in limits:
            out.entries[top_items_key(scope, limit)] = {
                "scope": scope, "limit": limit, "from": first.isoformat(), "to": end.isoformat(),
                "generatedAt": generated,
                "pages": lists.get(scope, {}).get("pages", [])[:limit],
                "referrers": lists.get(scope, {}).get("referrers", [])[:limit],
                "customEvents": _ranked(custom.get(scope, Counter()), limit),
            }
    return out


def _local_top_items(warehouse: Warehouse, now: datetime, limits: Sequence[int], days: int,
                     zones: WebsiteDirectory, sites: list[str], out: Computed) -> Computed:
    """top-items with websites in several time zones: each website's own last ``days`` full
    local days (one query per zone); ``all`` over the days ended for every website, each
    website's in its own zone, counts added up across zones before ranking."""
    top_n = max(limits)
    ends = {scope: scope_end(zones, scope, now) for scope in [ALL, *sites]}
    own = {zone: (now.astimezone(ZoneInfo(zone)).date() - timedelta(days=days), now.astimezone(ZoneInfo(zone)).date())
           for zone in zones_in_use(zones)}
    everywhere = {zone: (ends[ALL] - timedelta(days=days), ends[ALL]) for zone in zones_in_use(zones)}
    lists: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"pages": [], "referrers": []})
    for dimension in ("pages", "referrers"):
        start = time.perf_counter()
        rows = per_zone_rows(warehouse, f"select_cache_top_{dimension}_zone", zones, own, {"top_n": top_n})
        for row in rows:
            lists[row["website_id"]][dimension].append({"item": row["item"], "count": int(row["count"])})
        counts: Counter = Counter()
        all_rows = per_zone_rows(warehouse, f"select_cache_{dimension}_counts_zone", zones, everywhere)
        for row in all_rows:
            counts[row["item"]] += int(row["count"])
        lists[ALL][dimension] = _ranked(counts, top_n)
        out.timings.append(QueryTiming(f"select_cache_top_{dimension}_zone + counts (per zone)",
                                       round(time.perf_counter() - start, 6), len(rows) + len(all_rows)))
    daily = _daily_rows(warehouse, out, min(ends.values()) - timedelta(days=days), max(ends.values()))
    custom: dict[str, Counter] = defaultdict(Counter)
    for row in daily:
        named = {k: int(v) for k, v in row["events_by_type"].items() if k != "pageview"}
        if ends[row["website_id"]] - timedelta(days=days) <= row["date"] < ends[row["website_id"]] if row["website_id"] in ends else False:
            custom[row["website_id"]].update(named)
        if ends[ALL] - timedelta(days=days) <= row["date"] < ends[ALL]:
            custom[ALL].update(named)
    generated = iso_ms(now)
    for scope in [ALL, *sites]:
        for limit in limits:
            out.entries[top_items_key(scope, limit)] = {
                "scope": scope, "limit": limit, "from": (ends[scope] - timedelta(days=days)).isoformat(),
                "to": ends[scope].isoformat(), "generatedAt": generated,
                "pages": lists.get(scope, {}).get("pages", [])[:limit],
                "referrers": lists.get(scope, {}).get("referrers", [])[:limit],
                "customEvents": _ranked(custom.get(scope, Counter()), limit),
            }
    return out


# -- recent activity ------------------------------------------------------------------------
def _event_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "eventId": row["event_id"], "websiteId": row["website_id"], "sessionId": row["session_id"],
        "visitorId": row["visitor_id"], "eventType": row["event_type"], "eventName": row["event_name"],
        "urlPath": row["url_path"], "referrer": row["referrer"],
        "occurredAt": iso_ms(Warehouse.to_datetime(row["occurred_at"])),
    }


def recent_activity_entries(warehouse: Warehouse, now: datetime,
                            limits: Sequence[int] = RECENT_ACTIVITY_LIMITS) -> Computed:
    """``analytics:recent-activity:{scope}:{limit}``: the latest events before ``now``, newest
    first (from the events table: the latest events are raw by nature)."""
    out = Computed()
    sites = websites(warehouse, now, out)
    top_n = max(limits)
    until = warehouse.ts(now)
    generated = iso_ms(now)
    for scope in [ALL, *sites]:
        if scope == ALL:
            rows = out.query(warehouse, "select_cache_recent_events_all", {"until": until, "top_n": top_n})
        else:
            rows = out.query(warehouse, "select_cache_recent_events_for_website",
                             {"website_id": scope, "until": until, "top_n": top_n})
        latest = [_event_json(r) for r in rows]
        for limit in limits:
            out.entries[recent_activity_key(scope, limit)] = {
                "scope": scope, "limit": limit, "generatedAt": generated, "events": latest[:limit],
            }
    return out


# -- summary (SPEC §5) ----------------------------------------------------------------------
def summary_value(warehouse: Warehouse, first: date, end: date, computed: Computed | None = None) -> dict[str, Any]:
    """SPEC §5 for the full UTC days ``[first, end)`` over all websites: ``totalEvents`` and
    ``eventsByType`` summed from daily_stats, ``uniqueUsers`` distinct visitor_id from events."""
    computed = computed if computed is not None else Computed()
    by_type: Counter = Counter()
    total = 0
    for row in _daily_rows(warehouse, computed, first, end):
        total += int(row["total_pageviews"]) + int(row["total_custom_events"])
        by_type.update({k: int(v) for k, v in row["events_by_type"].items()})
    unique = computed.query(warehouse, "select_cache_unique_visitors",
                            {"from": warehouse.ts(midnight(first)), "to": warehouse.ts(midnight(end))})
    return {
        "totalEvents": total,
        "uniqueUsers": int(unique[0]["unique_users"] or 0),
        "eventsByType": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def summary_entries(warehouse: Warehouse, now: datetime, ranges: Sequence[int] = SUMMARY_DAYS) -> Computed:
    """``analytics:summary:{from}:{to}`` for the dashboard's presets: the last 7, 30 and 90
    full UTC days, ``from`` and ``to`` UTC midnights (``to`` exclusive)."""
    out = Computed()
    utc_days = current_websites().all_utc
    for days in ranges:
        first, end = last_full_days(now, days)
        # The key names UTC instants: with websites in other zones, local days do not add up to
        # [from, to), so the summary is counted from events (exact, one more scan).
        out.entries[summary_key(midnight(first), midnight(end))] = (
            summary_value(warehouse, first, end, out) if utc_days
            else raw_summary(warehouse, midnight(first), midnight(end), out))
    return out


def raw_summary(warehouse: Warehouse, start: datetime, end: datetime, computed: Computed | None = None) -> dict[str, Any]:
    """The same summary straight from raw events (what a dashboard without this pipeline
    would run on every request): the baseline of the benchmark, and a cross-check in tests."""
    computed = computed if computed is not None else Computed()
    span = {"from": warehouse.ts(start), "to": warehouse.ts(end)}
    totals = computed.query(warehouse, "select_cache_raw_summary_totals", span)[0]
    by_type = computed.query(warehouse, "select_cache_raw_summary_by_type", span)
    return {
        "totalEvents": int(totals["total_events"] or 0),
        "uniqueUsers": int(totals["unique_users"] or 0),
        "eventsByType": dict(sorted(((r["event_type"], int(r["count"])) for r in by_type),
                                    key=lambda kv: (-kv[1], kv[0]))),
    }
