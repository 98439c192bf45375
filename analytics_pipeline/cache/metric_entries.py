"""``analytics:metric:{name}:{scope}:{days}``: each custom metric's values over the last 7 and 30
full days, for every website with values and for ``all`` (websites combined), read from
``metric_values`` (see :mod:`analytics_pipeline.metrics.query`).

Value::

    {"metric": name, "unit": ..., "type": "counter"|"gauge", "scope": website|"all", "days": 7,
     "from": "YYYY-MM-DD", "to": "YYYY-MM-DD" (exclusive), "generatedAt": ...,
     "totals": [{"dimensions": {...}, "value": x|null, "events": n}, ...],   # over the window
     "totalsLeftOut": 0,
     "series": [{"date": "YYYY-MM-DD", "value": x|null, "events": n}, ...]}  # dimensions combined

``totals`` keeps the 100 dimension combinations with the most events (``totalsLeftOut`` says
how many more there were). Only metrics with values in the last 30 days get entries. Totals and daily points are combined
exactly from the stored inputs; a distinct count combined over more than one row is null.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from analytics_pipeline import settings
from analytics_pipeline.cache.entries import ALL, NAMESPACE, Computed, QueryTiming, iso_ms, last_full_days
from analytics_pipeline.metrics.query import combine, stored_rows
from analytics_pipeline.metrics.spec import load_metrics

METRIC_DAYS = (7, 30)
MAX_TOTALS = 100  # dimension combinations per entry, those with the most events first


def metric_key(name: str, scope: str, days: int) -> str:
    return f"{NAMESPACE}metric:{name}:{scope}:{days}"


def metric_entries(warehouse, now: datetime, windows=METRIC_DAYS, metrics_dir=None) -> Computed:
    out = Computed()
    first, end = last_full_days(now, max(windows))
    generated = iso_ms(now)
    for metric in load_metrics(metrics_dir or settings.metrics_dir()).metrics:
        started = time.perf_counter()
        rows = stored_rows(warehouse, metric.name, first, end - timedelta(days=1))
        out.timings.append(QueryTiming(f"select_metric_values {metric.name}", round(time.perf_counter() - started, 6),
                                       len(rows)))
        if not rows:
            continue
        for scope in [ALL, *sorted({r["website"] for r in rows})]:
            scoped = rows if scope == ALL else [r for r in rows if r["website"] == scope]
            for window in windows:
                since = (end - timedelta(days=window)).isoformat()
                in_window = [r for r in scoped if r["day"] >= since]
                totals = sorted(combine(metric, in_window, by_website=False), key=lambda t: -t["events"])
                by_day: dict[str, list[dict]] = {}
                for r in in_window:
                    by_day.setdefault(r["day"], []).append({**r, "dimensions": {}})
                series = []
                for k in range(window):
                    day = (end - timedelta(days=window - k)).isoformat()
                    point = combine(metric, by_day.get(day, []), by_website=False)
                    series.append({"date": day, "value": point[0]["value"] if point else None,
                                   "events": point[0]["events"] if point else 0})
                out.entries[metric_key(metric.name, scope, window)] = {
                    "metric": metric.name, "unit": metric.unit, "type": metric.type, "scope": scope,
                    "days": window, "from": since, "to": end.isoformat(), "generatedAt": generated,
                    "totals": [{"dimensions": t["dimensions"], "value": t["value"], "events": t["events"]}
                               for t in totals[:MAX_TOTALS]],
                    "totalsLeftOut": max(0, len(totals) - MAX_TOTALS),
                    "series": series,
                }
    return out
