"""Custom metrics: every shipped metric file backfilled over a range in ONE Dagster run, against
the bare SQL of the same metrics (the floor).

    .venv/bin/python benchmarks/metrics.py                 # 5,000,000 events (1,000,000 learning), 30 days, both backends
    .venv/bin/python benchmarks/metrics.py --quick         # 100,000 events (20,000 learning), 2 days: a smoke run
    .venv/bin/python benchmarks/metrics.py --events 1000000 --learning-events 300000 --backends sqlite

Set-up (timed, not compared): website traffic from ``EventGenerator`` and learning-platform
events from ``LearningEventGenerator`` are bulk-loaded straight into ``events`` with the
aggregate benchmark's loader (``COPY`` on PostgreSQL, ``executemany`` on SQLite), then analysed.

Measured on each backend (a throwaway database, dropped afterwards):

* **floor**: for each metric and day, a hand-written minimal ``SELECT ... GROUP BY`` that gives
  the same numbers (``FLOOR_SQL`` below: no type checks, no ignored-value counts, no
  canonical dimension values), run on one connection and fetched; nothing stored.
* **compiled SQL**: the statements the metrics compile to (``metrics.compile``), run bare and
  fetched the same way: what the pipeline's SQL costs before Python and Dagster.
* **pipeline**: the real metric assets of the code location, all in one
  ``materialize(...)`` run over the whole range (``dagster/asset_partition_range_*`` tags,
  ``BackfillPolicy.single_run``): SQL, canonical dimension values, cardinality cap, formulas,
  storing ``metric_values`` (one transaction per asset), metadata and Dagster's run and event
  log. "assets' build" is the sum of the assets' own ``duration_seconds`` (everything but Dagster).

The pipeline's values are checked against the floor's before the table is printed.
"""

from __future__ import annotations

import argparse
import os
import warnings
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path

from aggregate import QUIET, Backend, START_DAY, analyse, day_rows, load_day, machine_info
from throwaway import PG_HOST, drop_database, fresh_database, postgres_unreachable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The same numbers as each shipped metric file, in the least SQL that gives them: {metric:
# {dialect: SELECT}} over [:start, :end). Group columns first, then the value's inputs.
_P = {"sqlite": "json_extract(properties, '$.{k}')", "postgresql": "(properties ->> '{k}')"}


def _prop(dialect: str, key: str) -> str:
    return _P[dialect].format(k=key)


def floor_sql(dialect: str) -> dict[str, str]:
    course = _prop(dialect, "courseId")
    window = "occurred_at >= :start AND occurred_at < :end"
    passed = ("json_type(properties, '$.passed') = 'true'" if dialect == "sqlite"
              else "properties -> 'passed' = 'true'::jsonb")
    score = ("CASE WHEN json_type(properties, '$.score') IN ('integer', 'real') THEN json_extract(properties, '$.score') END"
             if dialect == "sqlite" else
             "CASE WHEN jsonb_typeof(properties -> 'score') = 'number' THEN (properties ->> 'score')::numeric END")
    return {
        "course_enrolments": f"SELECT website_id, {course}, count(*) FROM events WHERE {window} "
                             f"AND event_name = 'UserEnrolled' GROUP BY 1, 2",
        "course_completions": f"SELECT website_id, {course}, count(*) FROM events WHERE {window} "
                              f"AND event_name = 'UserCompletedCourse' GROUP BY 1, 2",
        "course_completion_rate": f"SELECT website_id, {course}, "
                                  f"sum(CASE WHEN event_name = 'UserCompletedCourse' THEN 1 ELSE 0 END), "
                                  f"sum(CASE WHEN event_name = 'UserEnrolled' THEN 1 ELSE 0 END) FROM events "
                                  f"WHERE {window} AND event_name IN ('UserCompletedCourse', 'UserEnrolled') "
                                  f"AND {course} IS NOT NULL GROUP BY 1, 2",
        "learning_progress": f"SELECT website_id, visitor_id, {course}, count(DISTINCT {_prop(dialect, 'moduleId')}) "
                             f"FROM events WHERE {window} AND event_name = 'ModuleCompleted' GROUP BY 1, 2, 3",
        "assessment_pass_rate": f"SELECT website_id, {course}, sum(CASE WHEN {passed} THEN 1 ELSE 0 END), count(*) "
                                f"FROM events WHERE {window} AND event_name = 'AssessmentCompleted' GROUP BY 1, 2",
        "assessment_average_score": f"SELECT website_id, {course}, avg({score}) FROM events WHERE {window} "
                                    f"AND event_name = 'AssessmentCompleted' GROUP BY 1, 2",
    }


def _bounds(wh, day: date) -> dict:
    start = datetime.combine(day, dtime(0), tzinfo=timezone.utc)
    return {"start": wh.ts(start), "end": wh.ts(start + timedelta(days=1))}


def prepare(backend: Backend, args: argparse.Namespace) -> None:
    from analytics_pipeline.demo.generate import EventGenerator, LearningEventGenerator
    from analytics_pipeline.warehouse import Warehouse

    backend.warehouse = Warehouse(backend.url)
    site_gen = EventGenerator(seed=args.seed, websites=3)
    learn_gen = LearningEventGenerator(seed=args.seed, learners=max(200, args.learning_events // 200))
    site_per_day = max(1, (args.events - args.learning_events) // args.days)
    learn_per_day = max(1, args.learning_events // args.days)
    touched: set[str] = set()
    started = time.perf_counter()
    for offset in range(args.days):
        day = START_DAY + timedelta(days=offset)
        load_day(backend, day_rows(site_gen, day, site_per_day), touched)
        load_day(backend, day_rows(learn_gen, day, learn_per_day), touched)
        if (offset + 1) % 10 == 0 or offset + 1 == args.days:
            print(f"  {backend.name}: loaded {offset + 1}/{args.days} days, {backend.events:,} events "
                  f"({time.perf_counter() - started:.0f}s)", flush=True)
    analyse(backend, ["events"])
    with backend.warehouse.connect() as conn:
        import sqlalchemy as sa

        backend.results["learning_events"] = conn.execute(sa.text(
            "SELECT count(*) FROM events WHERE website_id = 'learning-platform'")).scalar_one()


def run_floor(backend: Backend, days: list[date], statements: dict[str, str]) -> tuple[float, dict]:
    """Every statement for every day on one connection, fetched; (seconds, {metric: rows})."""
    import sqlalchemy as sa

    wh = backend.warehouse
    out: dict[str, int] = {}
    with wh.engine.connect() as conn:
        started = time.perf_counter()
        for name, sql in statements.items():
            text = sa.text(sql)
            for day in days:
                out[name] = out.get(name, 0) + len(conn.execute(text, _bounds(wh, day)).all())
        seconds = time.perf_counter() - started
    return seconds, out


def compiled_statements(backend: Backend, metrics) -> dict[str, tuple[str, dict]]:
    from analytics_pipeline.metrics.compile import compile_metric

    return {m.name: compile_metric(m, backend.warehouse.dialect) for m in metrics}


def run_compiled(backend: Backend, days: list[date], compiled) -> float:
    import sqlalchemy as sa

    wh = backend.warehouse
    with wh.engine.connect() as conn:
        started = time.perf_counter()
        for c in compiled.values():
            text = sa.text(c.sql)
            for day in days:
                conn.execute(text, {**c.params, **_bounds(wh, day)}).all()
        return time.perf_counter() - started


def run_pipeline(backend: Backend, days: list[date], assets, instance) -> tuple[float, float]:
    import dagster as dg

    from analytics_pipeline.resources import WarehouseResource

    started = time.perf_counter()
    result = dg.materialize(
        assets, instance=instance, resources={"warehouse": WarehouseResource(database_url=backend.url)},
        run_config=QUIET,
        tags={"dagster/asset_partition_range_start": days[0].isoformat(),
              "dagster/asset_partition_range_end": days[-1].isoformat()},
    )
    seconds = time.perf_counter() - started
    assert result.success
    assert len(instance.get_runs()) == 1, "the backfill must be one run"
    # each asset's own build time (SQL, Python, writes), from its materialization metadata
    build: dict[str, float] = {}
    for event in result.get_asset_materialization_events():
        value = event.materialization.metadata.get("duration_seconds")
        if value is not None:
            build[event.asset_key.to_user_string()] = float(value.value)
    return seconds, sum(build.values())


def verify(backend: Backend, days: list[date], metrics) -> int:
    """The stored values equal the floor SQL's, metric by metric (rows and totals)."""
    import sqlalchemy as sa

    wh = backend.warehouse
    statements = floor_sql(wh.dialect)
    checked = 0
    with wh.engine.connect() as conn:
        for m in metrics:
            stored = conn.execute(sa.text(
                "SELECT count(*), coalesce(sum(events), 0) FROM metric_values WHERE metric = :m AND day >= :a AND day <= :b"),
                {"m": m.name, "a": wh.day(days[0]), "b": wh.day(days[-1])}).one()
            floor_rows = sum(len(conn.execute(sa.text(statements[m.name]), _bounds(wh, d)).all()) for d in days)
            if int(stored[0]) != floor_rows:
                raise AssertionError(f"{backend.name} {m.name}: {stored[0]} stored rows, the floor SQL gives {floor_rows}")
            checked += int(stored[0])
    return checked


def measure(backend: Backend, args: argparse.Namespace, workdir: Path) -> None:
    import dagster as dg

    from analytics_pipeline.metrics.definitions import build_metric_defs
    from analytics_pipeline.metrics.spec import load_metrics

    metrics = load_metrics(REPO / "metric_definitions").metrics
    days = [START_DAY + timedelta(days=i) for i in range(args.days)]
    statements = floor_sql(backend.warehouse.dialect)
    assert set(statements) == {m.name for m in metrics}, "floor SQL must cover every shipped metric"
    assets = build_metric_defs(REPO / "metric_definitions").assets
    compiled = compiled_statements(backend, metrics)
    floors, compiled_runs, pipelines, builds = [], [], [], []
    for repeat in range(args.repeat):
        floors.append(run_floor(backend, days, statements)[0])
        compiled_runs.append(run_compiled(backend, days, compiled))
        home = workdir / f"dagster-{backend.name}-{repeat}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            seconds, build = run_pipeline(backend, days, list(assets), instance)
            pipelines.append(seconds)
            builds.append(build)
        print(f"  {backend.name} repeat {repeat + 1}: floor {floors[-1]:.2f}s, compiled SQL {compiled_runs[-1]:.2f}s, "
              f"pipeline {pipelines[-1]:.2f}s (assets' own build {builds[-1]:.2f}s)", flush=True)
    backend.results.update(floor=min(floors), compiled=min(compiled_runs), pipeline=min(pipelines), build=min(builds),
                           rows=verify(backend, days, metrics), metrics=len(metrics))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="all events (default 5,000,000)")
    parser.add_argument("--learning-events", type=int, default=1_000_000,
                        help="of them, learning-platform events (default 1,000,000)")
    parser.add_argument("--days", type=int, default=30, help="days from 2024-03-01 (default 30)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=2, help="measurements per backend; the best is reported")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true", help="100,000 events (20,000 learning), 2 days, one repeat")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.events, args.learning_events, args.days, args.repeat = 100_000, 20_000, 2, 1

    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    os.environ["ANALYTICS_DATA_DIR"] = str(workdir / "data")
    os.environ["ANALYTICS_DATABASE_URL"] = f"sqlite:///{workdir / 'unused.db'}"
    os.environ.setdefault("ANALYTICS_START_DATE", "2024-01-01")
    print(machine_info())
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in names and (why := postgres_unreachable()):
        print(f"PostgreSQL skipped: {PG_HOST}:5432 unreachable ({why})")
        names.remove("postgresql")
    backends = [Backend(n, fresh_database(n, workdir, "metrics")) for n in names]
    try:
        for b in backends:
            started = time.perf_counter()
            prepare(b, args)
            print(f"{b.name}: {b.events:,} events ({b.results['learning_events']:,} learning) loaded in "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
            try:
                measure(b, args, workdir)
            except Exception as exc:  # noqa: BLE001 - keep the other backend's figures
                print(f"{b.name}: measurement failed: {exc!r}")
        print()
        print(f"| backend | events (learning) | metrics x days | rows stored | floor SQL s | compiled SQL s | "
              f"assets' build s | pipeline, one run s | pipeline / floor |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for b in backends:
            r = b.results
            if "pipeline" not in r:
                continue
            print(f"| {b.name} | {b.events:,} ({r['learning_events']:,}) | {r['metrics']} x {args.days} | {r['rows']:,} | "
                  f"{r['floor']:.2f} | {r['compiled']:.2f} | {r['build']:.2f} | {r['pipeline']:.2f} | "
                  f"{r['pipeline'] / r['floor']:.2f} |")
    finally:
        for b in backends:
            drop_database(b.url)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
