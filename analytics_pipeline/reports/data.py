"""The data of one report: read from the statistics tables only, compared with the previous period.

``gather_report_data(warehouse, template, period_start)`` reads ``daily_stats`` (day reports and
the daily trend of week and month reports), ``weekly_stats`` (week reports) or ``monthly_stats``
(month reports, and quarter reports, which add up their three months) for the period and the
one before it, and returns a :class:`ReportData`: KPI totals over all websites, and the sections
the template asks for as lists of (possibly nested) records that every renderer shares.

Quarter reports come from monthly rows: counts are summed exactly, rates are weighted by the
sessions started, and distinct counts (visitors, sessions), which cannot be added across months,
are reported as the average month under the keys ``unique_visitors_monthly_avg`` /
``unique_sessions_monthly_avg``. Their top lists add up the three monthly top-10 lists.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from analytics_pipeline.partitions import period_end, period_start, previous_period_start
from analytics_pipeline.reports.templates import ReportTemplate
from analytics_pipeline.warehouse import Warehouse

REPORT_VERSION = "1.0.0"
ADDITIVE = ("total_pageviews", "total_custom_events", "sessions_started")
DISTINCT = ("unique_visitors", "unique_sessions")
WEIGHTED = ("bounce_rate", "avg_session_duration_seconds")  # weighted by sessions_started
RATES = ("bounce_rate",)  # fractions 0..1; their change is in percentage points
LABELS = {
    "total_pageviews": "Pageviews",
    "total_custom_events": "Custom events",
    "unique_visitors": "Unique visitors",
    "unique_sessions": "Unique sessions",
    "sessions_started": "Sessions started",
    "bounce_rate": "Bounce rate",
    "avg_session_duration_seconds": "Avg. session duration (s)",
}
SECTION_TITLES = {
    "summary": "Summary",
    "overview": "Websites",
    "top_pages": "Top pages",
    "top_referrers": "Top referrers",
    "events_by_type": "Events by type",
    "trend": "Trend",
}
TREND_METRICS = ("total_pageviews", "unique_visitors", "sessions_started", "total_custom_events")


def metric_key(metric: str, grain: str) -> str:
    """The record key of ``metric`` in a ``grain`` report (quarterly distinct counts are averages)."""
    return f"{metric}_monthly_avg" if grain == "quarter" and metric in DISTINCT else metric


def metric_label(metric: str, grain: str) -> str:
    label = LABELS[metric]
    return f"{label} (monthly avg)" if grain == "quarter" and metric in DISTINCT else label


def change_pct(value: float | None, previous: float | None) -> float | None:
    """Percentage change from ``previous`` to ``value``; None when there is nothing to compare."""
    if value is None or previous is None or previous == 0:
        return None
    return round((value - previous) / previous * 100.0, 1)


def change_unit(metric: str) -> str:
    """How the change of ``metric`` is measured, the same in every format: rates (bounce rate)
    in percentage points (``pp``), everything else relative to the previous period (``%``)."""
    return "pp" if metric in RATES else "%"


def change_value(metric: str, value: float | None, previous: float | None) -> float | None:
    """The one change figure of ``metric``: points for rates, percent otherwise (1 decimal)."""
    if metric in RATES:
        if value is None or previous is None:
            return None
        return round((value - previous) * 100, 1)
    return change_pct(value, previous)


def change_text(value: float | None, previous: float | None, metric: str = "") -> str:
    """How a reader sees a change: ``+12.5%``, ``-3.0%``, ``no change``, ``new``, ``n/a``; rates
    (bounce rate) change in percentage points: ``+2.1 pp``."""
    if value is None:
        return "n/a"
    if metric in RATES and previous is not None:
        points = change_value(metric, value, previous)
        return "no change" if points == 0 else f"{points:+.1f} pp"
    if previous is None:
        return "new" if value else "n/a"
    if previous == 0:
        return "no change" if value == 0 else "new"
    pct = change_pct(value, previous)
    return "no change" if pct == 0 else f"{pct:+.1f}%"


def rounded(metric: str, value: Any) -> Any:
    """Numbers as a reader wants them: rates as fractions to 4 decimals (41.23%), durations and
    averages to 1 decimal, counts as integers."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if metric in RATES:
        return round(float(value), 4)
    if isinstance(value, float):
        return round(value, 1)
    return value


def display_value(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric == "bounce_rate":
        return f"{value * 100:.1f}%"
    if metric == "avg_session_duration_seconds":
        return f"{value:,.1f} s"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


@dataclass(frozen=True)
class Period:
    """A report period: ``start`` inclusive, ``end`` exclusive (UTC days)."""

    grain: str
    start: date

    @property
    def end(self) -> date:
        return period_end(self.grain, self.start)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def key(self) -> str:
        return self.start.isoformat()

    @property
    def label(self) -> str:
        if self.grain == "day":
            return self.start.isoformat()
        if self.grain == "month":
            return self.start.strftime("%B %Y")
        if self.grain == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return f"{self.start.isoformat()} to {self.last_day.isoformat()}"

    def as_dict(self) -> dict[str, Any]:
        return {"grain": self.grain, "start": self.start.isoformat(), "end": self.last_day.isoformat(),
                "label": self.label, "key": self.key}


@dataclass(frozen=True)
class Kpi:
    """One headline number over all websites, with the previous period's value."""

    metric: str
    label: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        """Points for rates, percent for everything else (:func:`change_value`)."""
        return change_value(self.metric, self.value, self.previous)

    @property
    def change_unit(self) -> str:
        return change_unit(self.metric)

    @property
    def display(self) -> str:
        return display_value(self.metric, self.value)

    @property
    def change_text(self) -> str:
        return change_text(self.value, self.previous, self.metric)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "label": self.label, "value": rounded(self.metric, self.value),
                "previous": rounded(self.metric, self.previous), "change": self.change,
                "change_unit": self.change_unit, "display": self.display,
                "change_text": self.change_text}


@dataclass
class Section:
    """One part of a report: a title and its records (nested dicts; renderers flatten them)."""

    name: str
    title: str
    rows: list[dict[str, Any]]


COMPLETE, IN_PROGRESS, INCOMPLETE = "complete", "period in progress", "data incomplete"
RECORD_COLUMNS = ("section", "period_start", "period_end", "period_status", "website_id", "dimension", "item",
                  "rank", "metric", "value", "previous", "change", "change_unit")
TOP_DIMENSIONS = {"top_pages": ("page", "pageviews"), "top_referrers": ("referrer", "pageviews"),
                  "events_by_type": ("event_type", "events")}


@dataclass
class ReportData:
    """Everything a renderer needs for one template and period."""

    template: ReportTemplate
    period: Period
    previous: Period
    generated_at: datetime
    websites: list[str]
    kpis: list[Kpi]
    sections: list[Section]
    source_tables: list[str] = field(default_factory=list)
    # Why the statistics this report reads are not final (see reports/readiness.py); empty when they are.
    incomplete: list[str] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    @property
    def in_progress(self) -> bool:
        """The period has not ended yet on the day the report was generated (UTC)."""
        return self.period.end > self.generated_at.date()

    @property
    def status(self) -> str:
        """``complete``, ``period in progress`` or ``data incomplete``: shown in every format."""
        if self.in_progress:
            return IN_PROGRESS
        return INCOMPLETE if self.incomplete else COMPLETE

    @property
    def status_note(self) -> str:
        """One sentence for a reader; empty for a complete report."""
        if self.in_progress:
            return (f"Period in progress: {self.period.label} ends {self.period.last_day}; the figures cover "
                    "the statistics built so far and will change.")
        if self.incomplete:
            return "Data incomplete: " + "; ".join(self.incomplete)
        return ""

    def records(self) -> list[dict[str, Any]]:
        """The report as one tidy long table (the CSV rows and the JSON ``data``): one row per
        section, website, item and metric, with the columns of :data:`RECORD_COLUMNS`."""
        base = {"period_start": self.period.start.isoformat(), "period_end": self.period.last_day.isoformat(),
                "period_status": self.status}
        grain = self.period.grain
        out: list[dict[str, Any]] = []

        def add(section: str, website: str, metric: str, value: Any, previous: Any = None, *,
                dimension: str | None = None, item: Any = None, rank: int | None = None, change_of: str = "") -> None:
            unit_metric = change_of or metric
            has_previous = previous is not None or section != "trend"
            out.append({"section": section, **base, "website_id": website, "dimension": dimension, "item": item,
                        "rank": rank, "metric": metric, "value": rounded(unit_metric, value),
                        "previous": rounded(unit_metric, previous),
                        "change": change_value(unit_metric, value, previous) if has_previous else None,
                        "change_unit": change_unit(unit_metric) if has_previous and section != "trend" else None})

        for s in self.sections:
            if s.name == "summary":
                for k in self.kpis:
                    add("summary", "all", metric_key(k.metric, grain), k.value, k.previous, change_of=k.metric)
            elif s.name == "overview":
                for row in s.rows:
                    for m in self.template.metrics:
                        cell = row[metric_key(m, grain)]
                        add("overview", row["website_id"], metric_key(m, grain), cell["value"], cell["previous"],
                            change_of=m)
            elif s.name in TOP_DIMENSIONS:
                dimension, metric = TOP_DIMENSIONS[s.name]
                for row in s.rows:
                    add(s.name, row["website_id"], metric, row["count"], row["previous_count"], dimension=dimension,
                        item=row.get("item", row.get("event_type")), rank=row.get("rank"))
            elif s.name == "trend":
                for row in s.rows:
                    dimension = "month" if "month" in row else "date"
                    for m in TREND_METRICS:
                        add("trend", row["website_id"], m, row[m], dimension=dimension, item=row[dimension])
        return out

    @property
    def content_hash(self) -> str:
        """SHA-256 of the report's numbers (not of the generation time): equal hash, same report."""
        payload = json.dumps({"template": self.template.id, "period": self.period.key,
                              "records": self.records()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def text_context(self) -> dict[str, Any]:
        """The variables of the template's Jinja2 text parts."""
        return {
            "template": {"id": self.template.id, "name": self.template.name,
                         "description": self.template.description, "schedule": self.template.schedule},
            "period": {**self.period.as_dict(), "status": self.status, "status_note": self.status_note},
            "previous": self.previous.as_dict(),
            "websites": self.websites,
            "kpis": [k.as_dict() for k in self.kpis],
            "kpi": {k.metric: k.as_dict() for k in self.kpis},
            "sections": {s.name: s.rows for s in self.sections},
            "generated_at": self.generated_at.isoformat(),
        }

    def text(self, name: str) -> str:
        return self.template.render_text(name, self.text_context())


# -- reading --------------------------------------------------------------------------------------
def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _normalise(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["period_start"] = Warehouse.to_date(row["period_start"])
    for column in ("top_pages", "top_referrers", "events_by_type"):
        out[column] = _json(row[column])
    for column in ("total_pageviews", "total_custom_events", "unique_visitors", "unique_sessions", "sessions_started"):
        out[column] = int(row[column])
    for column in WEIGHTED:
        out[column] = float(row[column])
    return out


def read_stats(warehouse: Warehouse, grain: str, start: date, end: date) -> list[dict[str, Any]]:
    """Stats rows of ``grain`` (``day``/``week``/``month``) for periods starting in [start, end)."""
    params = {"start": warehouse.day(start), "end": warehouse.day(end)}
    if grain == "day":
        rows = warehouse.query("select_report_daily_stats", params)
    else:
        table = {"week": "weekly_stats", "month": "monthly_stats"}[grain]
        rows = warehouse.query("select_report_period_stats", params, table=table)
    return [_normalise(r) for r in rows]


def _merge_top(lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = defaultdict(int)
    for items in lists:
        for entry in items:
            counts[entry["item"]] += int(entry["count"])
    return [{"item": k, "count": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def combine(rows: list[dict[str, Any]], *, distinct: str) -> dict[str, Any]:
    """Several stats rows as one: counts summed, rates weighted by sessions started; distinct
    counts summed (``distinct="sum"``, across websites) or averaged (``"mean"``, across months)."""
    out: dict[str, Any] = {m: sum(r[m] for r in rows) for m in ADDITIVE}
    for m in DISTINCT:
        total = sum(r[m] for r in rows)
        out[m] = total if distinct == "sum" or not rows else round(total / len(rows), 1)
    sessions = out["sessions_started"]
    for m in WEIGHTED:
        out[m] = (sum(r[m] * r["sessions_started"] for r in rows) / sessions) if sessions else 0.0
    out["top_pages"] = _merge_top(r["top_pages"] for r in rows)
    out["top_referrers"] = _merge_top(r["top_referrers"] for r in rows)
    events: dict[str, int] = defaultdict(int)
    for r in rows:
        for k, v in r["events_by_type"].items():
            events[k] += int(v)
    out["events_by_type"] = dict(events)
    return out


def _per_website(rows: list[dict[str, Any]], grain: str) -> dict[str, dict[str, Any]]:
    """One combined stats row per website (quarter: its months combined)."""
    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_site[r["website_id"]].append(r)
    if grain != "quarter":
        return {w: rs[0] for w, rs in by_site.items()}
    return {w: combine(rs, distinct="mean") for w, rs in by_site.items()}


def _compare(metric: str, value: Any, previous: Any) -> dict[str, Any]:
    return {"value": rounded(metric, value), "previous": rounded(metric, previous),
            "change": change_value(metric, value, previous), "change_unit": change_unit(metric)}


def _top_rows(name: str, current: dict[str, dict], previous: dict[str, dict], limit: int) -> list[dict[str, Any]]:
    rows = []
    for website in sorted(current):
        before = {e["item"]: int(e["count"]) for e in previous.get(website, {}).get(name, [])}
        for rank, entry in enumerate(current[website][name][:limit], start=1):
            prev = before.get(entry["item"])
            rows.append({"website_id": website, "rank": rank, "item": entry["item"], "count": int(entry["count"]),
                         "previous_count": prev, "change": change_pct(int(entry["count"]), prev), "change_unit": "%"})
    return rows


def _event_rows(current: dict[str, dict], previous: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for website in sorted(current):
        before = previous.get(website, {}).get("events_by_type", {})
        items = sorted(current[website]["events_by_type"].items(), key=lambda kv: (-int(kv[1]), kv[0]))
        for event_type, count in items:
            prev = before.get(event_type)
            prev = int(prev) if prev is not None else None
            rows.append({"website_id": website, "event_type": event_type, "count": int(count),
                         "previous_count": prev, "change": change_pct(int(count), prev), "change_unit": "%"})
    return rows


def _trend_rows(rows: list[dict[str, Any]], grain_key: str) -> list[dict[str, Any]]:
    return [{grain_key: r["period_start"].isoformat(), "website_id": r["website_id"],
             **{m: r[m] for m in TREND_METRICS}} for r in rows]


def metric_section(warehouse: Warehouse, name: str, period: Period, previous: Period) -> tuple[str, list[dict[str, Any]]]:
    """A ``metric:<name>`` section: the metric's total per website and dimension values over the
    period (combined exactly from the stored days), with the previous period's for comparison.
    A metric whose file is missing or broken gives one row saying so, never a failed report."""
    from analytics_pipeline.metrics.query import UnknownMetric, combine, get_metric, stored_rows

    try:
        metric = get_metric(name)
    except UnknownMetric:
        return f"Metric {name}", [{"metric": name, "note": "no valid metric file defines this metric"}]
    now = combine(metric, stored_rows(warehouse, name, period.start, period.last_day))
    before = {(t["website"], json.dumps(t["dimensions"], sort_keys=True)): t["value"]
              for t in combine(metric, stored_rows(warehouse, name, previous.start, previous.last_day))}
    rows = [{"metric": name, "unit": metric.unit, "website_id": t["website"], "dimensions": t["dimensions"],
             **_compare(f"metric:{name}", t["value"],
                        before.get((t["website"], json.dumps(t["dimensions"], sort_keys=True)))),
             "events": t["events"]}
            for t in sorted(now, key=lambda t: (t["website"], -t["events"], json.dumps(t["dimensions"])))]
    return f"{metric.description or name} ({metric.unit or metric.type})", rows


def gather_report_data(
    warehouse: Warehouse, template: ReportTemplate, start: date | str, *, now: datetime | None = None,
    incomplete: list[str] | None = None,
) -> ReportData:
    """The report of ``template`` for the period starting ``start`` (a partition key or date).
    ``incomplete``: why its statistics are not final yet (the report then says so)."""
    if isinstance(start, str):
        start = date.fromisoformat(start)
    grain = template.grain
    if period_start(grain, start) != start:
        raise ValueError(f"{start} is not the first day of a {grain} (template {template.id})")
    period = Period(grain, start)
    previous = Period(grain, previous_period_start(grain, start))
    stats_grain = "month" if grain == "quarter" else grain
    rows = read_stats(warehouse, stats_grain, previous.start, period.end)
    source_tables = [{"day": "daily_stats", "week": "weekly_stats", "month": "monthly_stats"}[stats_grain]]
    current_rows = [r for r in rows if r["period_start"] >= period.start]
    previous_rows = [r for r in rows if r["period_start"] < period.start]
    current = _per_website(current_rows, grain)
    before = _per_website(previous_rows, grain)
    websites = sorted(current)

    totals_now = combine(list(current.values()), distinct="sum")
    totals_before = combine(list(before.values()), distinct="sum")
    kpis = [Kpi(m, metric_label(m, grain), totals_now[m], totals_before[m] if before else None)
            for m in template.metrics]

    sections: list[Section] = []
    for name in template.sections:
        if name == "summary":
            rows_out = [{"metric": metric_key(k.metric, grain), "label": k.label,
                         "value": rounded(k.metric, k.value), "previous": rounded(k.metric, k.previous),
                         "change": k.change, "change_unit": k.change_unit} for k in kpis]
        elif name == "overview":
            rows_out = [
                {"website_id": w, "period": {"start": period.start.isoformat(), "end": period.last_day.isoformat()},
                 **{metric_key(m, grain): _compare(m, current[w][m], before.get(w, {}).get(m)) for m in template.metrics}}
                for w in websites
            ]
        elif name in ("top_pages", "top_referrers"):
            rows_out = _top_rows(name, current, before, template.top_limit)
        elif name == "events_by_type":
            rows_out = _event_rows(current, before)
        elif name == "trend":
            if grain == "quarter":
                rows_out = _trend_rows(current_rows, "month")
            else:
                trend_start = period.start - timedelta(days=6) if grain == "day" else period.start
                rows_out = _trend_rows(read_stats(warehouse, "day", trend_start, period.end), "date")
                if "daily_stats" not in source_tables:
                    source_tables.append("daily_stats")
        elif name.startswith("metric:"):
            title, rows_out = metric_section(warehouse, name.partition(":")[2], period, previous)
            if "metric_values" not in source_tables:
                source_tables.append("metric_values")
            sections.append(Section(name, title, rows_out))
            continue
        else:  # pragma: no cover - templates.py validates section names
            raise ValueError(f"unknown section {name!r}")
        sections.append(Section(name, SECTION_TITLES[name], rows_out))

    return ReportData(
        template=template,
        period=period,
        previous=previous,
        generated_at=now or datetime.now(timezone.utc),
        websites=websites,
        kpis=kpis,
        sections=sections,
        source_tables=source_tables,
        incomplete=list(incomplete or []),
    )
