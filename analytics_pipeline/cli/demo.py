"""``demo``: the README's main command. Generates demo events, then runs the whole graph
in-process against the local Dagster instance ($DAGSTER_HOME), so `make dev` shows the runs."""

from __future__ import annotations

import argparse
import os
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from analytics_pipeline import settings
from analytics_pipeline.safe_text import shorten, visible


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="generate demo data and run the whole graph on the configured warehouse")
    # 62 days always hold one complete calendar month, so the monthly report covers a whole month.
    demo.add_argument("--days", type=int, default=62)
    demo.add_argument("--events-per-day", type=int, default=5_000)
    demo.add_argument("--websites", type=int, default=3)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--learning-events-per-day", type=int, default=2_000,
                      help="events of the learning-platform website per day (0: none)")
    demo.set_defaults(func=run_demo)


def summary_lines(rows: list[dict]) -> list[str]:
    """The demo's summary table of ``daily_stats`` rows, per website: a header and a line each.

    Website ids and pages are data: shown with control characters made visible and shortened,
    the name column as wide as the longest name so the columns line up."""
    totals: dict[str, dict] = {}
    for row in rows:
        t = totals.setdefault(row["website_id"], {"pv": 0, "ce": 0, "uv": 0, "started": 0, "bounces": 0.0,
                                                  "dur": 0.0, "pages": {}})
        t["pv"] += row["total_pageviews"]
        t["ce"] += row["total_custom_events"]
        t["uv"] += row["unique_visitors"]
        t["started"] += row["sessions_started"]
        t["bounces"] += row["bounce_rate"] * row["sessions_started"]
        t["dur"] += row["avg_session_duration_seconds"] * row["sessions_started"]
        for item in row["top_pages"]:
            t["pages"][item["item"]] = t["pages"].get(item["item"], 0) + item["count"]
    names = {site: shorten(visible(site), 40) for site in totals}
    width = max([len("website"), *map(len, names.values())])
    lines = [f"  {'website':<{width}} {'pageviews':>10} {'custom':>8} {'visitors*':>10} {'sessions':>9} "
             f"{'bounce':>7} {'avg s':>7}  top page"]
    for site, t in sorted(totals.items()):
        n = t["started"] or 1
        top = shorten(visible(max(t["pages"].items(), key=lambda kv: kv[1])[0]), 60) if t["pages"] else ""
        lines.append(f"  {names[site]:<{width}} {t['pv']:>10,} {t['ce']:>8,} {t['uv']:>10,} {t['started']:>9,} "
                     f"{t['bounces'] / n:>7.1%} {t['dur'] / n:>7.1f}  {top}")
    return lines


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def run_demo(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    import dagster as dg

    from analytics_pipeline.definitions import build_defs

    defs = build_defs()
    from analytics_pipeline.demo.generate import EventGenerator
    from analytics_pipeline.stats.build import read_period
    from analytics_pipeline.warehouse import Warehouse
    from analytics_pipeline.warehouse.engine import redact_url

    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)  # set by cli.main
    instance = dg.DagsterInstance.get()
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = yesterday - timedelta(days=args.days - 1)
    landing = settings.landing_dir()
    print(f"warehouse: {redact_url(settings.database_url())}")
    print(f"cache:     {'redis' if settings.redis_url() else 'embedded (warehouse table cache_entries)'}")
    print(f"dagster:   {os.environ['DAGSTER_HOME']}")

    gen = EventGenerator(seed=args.seed, websites=args.websites)
    written = gen.write_days(landing, first, args.days, args.events_per_day)
    print(f"\n1. generated {written.lines:,} lines for {first} .. {yesterday} into {landing} "
          f"({written.duplicates:,} re-sent duplicates, {written.malformed:,} malformed on purpose)")
    if args.learning_events_per_day > 0:
        from analytics_pipeline.demo.generate import LearningEventGenerator

        learning = LearningEventGenerator(seed=args.seed).write_days(landing, first, args.days,
                                                                     args.learning_events_per_day)
        print(f"   and {learning.events:,} events of the learning-platform website (enrolments, modules, "
              f"assessments, completions)")

    def run_job(name: str, **kwargs) -> dg.ExecuteInProcessResult:
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet, **kwargs)
        if not result.success:
            raise SystemExit(f"{name} failed: see `make dev` -> Runs -> {result.run_id}")
        return result

    result = run_job("ingest_job")
    meta = result.asset_materializations_for_node("raw_events")[0].metadata
    print(f"2. raw_events: {meta['lines'].value:,} lines -> {meta['loaded'].value:,} loaded, "
          f"{meta['duplicates'].value:,} duplicates, {meta['rejected'].value:,} rejected "
          f"({meta['events_per_second'].value:,.0f} lines/s); sessions brought up to date")

    run_job("daily_stats_job", tags=_range_tags(first.isoformat(), yesterday.isoformat()))
    print(f"3. daily_stats: {args.days} days in one run")
    weeks = [k for k in defs.resolve_job_def("weekly_stats_job").partitions_def.get_partition_keys()
             if first.isoformat() <= k]
    if weeks:
        run_job("weekly_stats_job", tags=_range_tags(weeks[0], weeks[-1]))
    months = [k for k in defs.resolve_job_def("monthly_stats_job").partitions_def.get_partition_keys()
              if k >= first.replace(day=1).isoformat()]
    if months:
        run_job("monthly_stats_job", tags=_range_tags(months[0], months[-1]))
    print(f"   weekly_stats: {len(weeks)} complete week(s); monthly_stats: {len(months)} complete month(s)")

    for step in _extra_steps():
        step(defs, instance, run_job, first, yesterday)

    wh = Warehouse(settings.database_url())
    print(f"\nSummary, last 7 days to {yesterday} (daily_stats):")
    rows = [row for offset in range(7) for row in read_period(wh, "day", yesterday - timedelta(days=offset))]
    print("\n".join(summary_lines(rows)))
    print("  * visitors summed over days (daily uniques); exact period uniques are in weekly/monthly_stats")
    print(f"\nWrote: {settings.database_url().removeprefix('sqlite:///')}")
    for path in _written_paths():
        print(f"       {path}")
    print("Open the UI on the same data: make dev")
    _dashboard_step()
    return 0


def _dashboard_step() -> None:
    """A local API key for the dashboard (created once), and how to open it."""
    from analytics_pipeline.api.config import ApiConfig
    from analytics_pipeline.api.security import ensure_local_keys_file

    keys_file = ApiConfig.from_env().keys_file
    key, created = ensure_local_keys_file(keys_file)
    print(f"Dashboard and API: make serve, then open http://127.0.0.1:8000/?key={key}" if key else
          "Dashboard and API: make serve, then open http://127.0.0.1:8000/ with a key from the keys file")
    print(f"  API keys: {keys_file} ({'created with a random key' if created else 'existing'}); "
          "the page keeps the key in the browser tab, API docs at http://127.0.0.1:8000/docs")


def _extra_steps():
    """Later stages of the demo: warm the cache, then write the default reports."""
    return [_cache_step, _reports_step, _metrics_step]


def _cache_step(defs, instance, run_job, first: date, last: date) -> None:
    """Warm every dashboard entry in one run of the cache refresh job (as its sensor does), and
    the performance-metrics entry as its sensor does (without a run); show the summary entries."""
    from analytics_pipeline.cache.definitions import REFRESH_JOB_NAME
    from analytics_pipeline.cache.warm import warm_job
    from analytics_pipeline.resources import default_resources

    run_job(REFRESH_JOB_NAME)
    resources = default_resources()
    cache = resources["cache"].get()
    warm_job("performance-metrics", resources["warehouse"].get(), cache)
    keys = cache.keys("analytics:*")
    print(f"4. cache ({cache.kind}): {len(keys)} entries warmed by one {REFRESH_JOB_NAME} run; e.g.")
    for key in cache.keys("analytics:summary:*")[:3]:
        print(f"   {key} = {cache.get(key)[:110]}")


def demo_report_period(template, first: date, last: date, latest: str | None) -> str | None:
    """The period the demo reports on: the latest complete period that lies entirely inside the
    generated days ``[first, last]``; when there is none (a quarter is longer than the demo's
    data), the latest period with statistics, which the report labels "period in progress" or
    "data incomplete" as the case may be."""
    from analytics_pipeline.partitions import period_end, period_start

    start = period_start(template.grain, last)
    while start >= first:
        if period_end(template.grain, start) <= last + timedelta(days=1):
            return start.isoformat()
        start = period_start(template.grain, start - timedelta(days=1))
    return latest


def _reports_step(defs, instance, run_job, first: date, last: date) -> None:
    """Each default report for the period :func:`demo_report_period` picks: through its Dagster
    job when that period is complete (a partition), else written directly (a period in progress)."""
    from analytics_pipeline.reports.definitions import report_job_name
    from analytics_pipeline.reports.generate import latest_partition, write_report
    from analytics_pipeline.reports.templates import load_templates
    from analytics_pipeline.warehouse import Warehouse

    wh = Warehouse(settings.database_url())
    for template in load_templates(settings.templates_dir()).templates:
        key = demo_report_period(template, first, last, latest_partition(wh, template))
        if key is None:
            continue
        job_name = report_job_name(template)
        job = defs.resolve_job_def(job_name)
        if job.partitions_def is not None and job.partitions_def.has_partition_key(key):
            run_job(job_name, partition_key=key)
            how = "materialized"
        else:
            write_report(wh, template, key, settings.reports_dir())
            how = "written directly (period still in progress)"
        print(f"5. report {template.id} {key}: {how}")


def _metrics_step(defs, instance, run_job, first: date, last: date) -> None:
    """hourly_stats for the whole range and every metric file's days, each in one run; then the
    learning-platform views over the range."""
    from analytics_pipeline.metrics.definitions import metric_job_name
    from analytics_pipeline.metrics.query import metric_values
    from analytics_pipeline.metrics.spec import load_metrics
    from analytics_pipeline.warehouse import Warehouse

    run_job("hourly_stats_job", tags=_range_tags(f"{first.isoformat()}-00:00", f"{last.isoformat()}-23:00"))
    metrics = load_metrics(settings.metrics_dir())
    for metric in metrics.metrics:
        run_job(metric_job_name(metric), tags=_range_tags(first.isoformat(), last.isoformat()))
    print(f"6. hourly_stats: {(last - first).days + 1} days of hours in one run; "
          f"{len(metrics.metrics)} metric(s) computed ({len(metrics.problems)} broken file(s) skipped)")
    wh = Warehouse(settings.database_url())
    names = {"course_enrolments": "enrolled", "course_completions": "completed",
             "course_completion_rate": "completion %", "assessment_pass_rate": "pass %",
             "assessment_average_score": "avg score"}
    by_metric = metrics.by_name()
    if not all(n in by_metric for n in names):
        return
    table: dict[str, dict[str, str]] = {}
    for name, label in names.items():
        answer = metric_values(wh, name, website="learning-platform", from_day=first, to_day=last)
        for total in answer["totals"]:
            course = shorten(visible(str(total["dimensions"].get("properties.courseId", ""))), 24)
            value = total["value"]
            table.setdefault(course, {})[label] = "-" if value is None else (
                f"{value:,.0f}" if by_metric[name].type == "counter" else f"{value:.1f}")
    print(f"   learning platform, {first} .. {last} (per course):")
    print("   " + f"{'course':<12}" + "".join(f"{label:>14}" for label in names.values()))
    for course in sorted(table):
        print("   " + f"{course:<12}" + "".join(f"{table[course].get(label, '-'):>14}" for label in names.values()))
    if "learning_progress" in by_metric:
        rows = metric_values(wh, "learning_progress", website="learning-platform", from_day=last, to_day=last)["values"]
        if rows:
            modules = sorted(r["value"] or 0 for r in rows)
            print(f"   learning progress on {last}: {len(rows)} learner-course pair(s) advanced, "
                  f"median {modules[len(modules) // 2]:.0f} module(s), most {modules[-1]:.0f}")


def _written_paths() -> list[Path]:
    reports = settings.reports_dir()
    return sorted(p for p in reports.rglob("*") if p.is_file()) if reports.exists() else []
