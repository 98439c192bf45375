"""Report generation time per template and format (target: every report under 2 s).

Reports read only the statistics tables, so the benchmark synthesises the statistics of the
5M-event data set directly (a month of ~167k events a day over 3 websites, plus the months
around it for the previous-period comparison and the quarter) instead of ingesting events. Then
it generates each default template, in every format, for its latest complete period and prints a
table: gather = reading the stats tables, render = building and writing one file.

    .venv/bin/python benchmarks/reports.py                      # 5M events/month, 3 websites, SQLite
    .venv/bin/python benchmarks/reports.py --scale 0.1          # numbers of a 500k-event month
    .venv/bin/python benchmarks/reports.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics_pipeline.partitions import period_end  # noqa: E402
from analytics_pipeline.reports.data import gather_report_data  # noqa: E402
from analytics_pipeline.reports.generate import render_files  # noqa: E402
from analytics_pipeline.reports.templates import FORMATS, load_templates  # noqa: E402
from analytics_pipeline.settings import REPO_ROOT  # noqa: E402
from analytics_pipeline.warehouse import Warehouse  # noqa: E402

EVENTS_PER_MONTH = 5_000_000
FIRST, LAST = date(2024, 1, 1), date(2024, 4, 30)
PARTITIONS = {"daily-activity-summary": "2024-03-31", "weekly-user-growth": "2024-03-25",
              "monthly-comprehensive": "2024-03-01", "quarterly-performance": "2024-01-01"}
JSON_COLUMNS = ("top_pages", "top_referrers", "events_by_type")
TABLES = {"day": ("daily_stats", "date"), "week": ("weekly_stats", "period_start"), "month": ("monthly_stats", "period_start")}


def stats_row(rng: random.Random, website: str, days: int, events_per_day: float) -> dict:
    events = int(events_per_day * days * rng.uniform(0.85, 1.15))
    pageviews = int(events * 0.8)
    visitors = int(events / 12 * (days ** -0.25))
    sessions = int(events / 6)
    pages = sorted((int(pageviews / (i + 2) ** 1.2) for i in range(10)), reverse=True)
    refs = ["direct", "google.com", "bing.com", "t.co", "news.ycombinator.com", "reddit.com", "github.com",
            "duckduckgo.com", "linkedin.com", "facebook.com"]
    names = ["signup", "click", "purchase", "share", "download", "video_play"]
    custom = events - pageviews
    return {
        "website_id": website,
        "total_pageviews": pageviews,
        "total_custom_events": custom,
        "unique_visitors": visitors,
        "unique_sessions": sessions,
        "top_pages": [{"item": f"/section-{i}/page-{rng.randint(1, 500)}", "count": c} for i, c in enumerate(pages)],
        "top_referrers": [{"item": r, "count": int(pageviews / (i + 2))} for i, r in enumerate(refs)],
        "events_by_type": {"pageview": pageviews, **{n: custom // len(names) for n in names}},
        "sessions_started": sessions,
        "bounce_rate": round(rng.uniform(0.3, 0.6), 4),
        "avg_session_duration_seconds": round(rng.uniform(60, 400), 2),
    }


def synthesise(warehouse: Warehouse, websites: int, scale: float) -> int:
    """Daily, weekly and monthly stats rows for every website from FIRST to LAST; row count."""
    rng = random.Random(42)
    per_site_day = EVENTS_PER_MONTH * scale / 30 / websites
    rows = 0
    with warehouse.begin() as conn:
        for grain, (table, key) in TABLES.items():
            conn.execute(sa.text(f"DELETE FROM {table}"))
            day = FIRST
            while day <= LAST:
                starts = (grain == "day") or (grain == "week" and day.weekday() == 0) or (grain == "month" and day.day == 1)
                if starts:
                    days = (period_end(grain, day) - day).days
                    for w in range(websites):
                        values = stats_row(rng, f"site-{w + 1}", days, per_site_day)
                        columns = [key, *values, "computed_at"]
                        params = {**{k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in values.items()},
                                  key: warehouse.day(day), "computed_at": warehouse.ts(datetime.now(timezone.utc))}
                        marks = [f"CAST(:{c} AS jsonb)" if warehouse.is_postgres and c in JSON_COLUMNS else f":{c}"
                                 for c in columns]
                        conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"), params)
                        rows += 1
                day += timedelta(days=1)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 5M-events month (default 1.0)")
    parser.add_argument("--websites", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs per report; the median is shown")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="a small run (scale 0.05, one run per report)")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.repeat = 0.05, 1

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        warehouse = Warehouse(url)
        rows = synthesise(warehouse, args.websites, args.scale)
        print(f"{warehouse.dialect}: {rows} stats rows for {args.websites} websites, "
              f"{EVENTS_PER_MONTH * args.scale:,.0f} events a month")
        out = Path(tmp) / "reports"
        table = []
        for template in load_templates(REPO_ROOT / "report_templates").templates:
            template = replace(template, formats=FORMATS)
            partition = PARTITIONS[template.id]
            gathers, renders = [], {f: [] for f in FORMATS}
            sizes, records = {}, 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                data = gather_report_data(warehouse, template, partition)
                gathers.append(time.perf_counter() - started)
                for f in render_files(data, out):
                    renders[f.format].append(f.seconds)
                    sizes[f.format] = f.size
                records = len(data.records())
            gather = statistics.median(gathers)
            for fmt in FORMATS:
                render = statistics.median(renders[fmt])
                table.append((template.id, partition, fmt, records, sizes[fmt], gather, render, gather + render))
    header = ("template", "partition", "format", "rows", "bytes", "gather s", "render s", "total s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in table:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:,} | {r[5]:.3f} | {r[6]:.3f} | {r[7]:.3f} |")
    worst = max(r[7] for r in table)
    print(f"slowest report: {worst:.3f} s ({'under' if worst < 2 else 'OVER'} the 2 s target)")
    return 0 if worst < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
