"""The production topology of deploy/ on this machine: the instance on PostgreSQL, the code
location served by ``dagster code-server start``, the webserver and the daemon as separate
processes, every step executed by one of two Celery workers on RabbitMQ. Ingestion of a small
landing set, a 7-day statistics backfill and one report go through it, and their numbers must
equal the same work run embedded (in-process, on a warehouse of its own).

About a minute and a half on a quiet 2-core machine: ``make test`` leaves it out; ``make
test-topology`` (which .ci/run calls) runs it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from analytics_pipeline.demo.generate import EventGenerator
from analytics_pipeline.reports.definitions import report_job_name
from analytics_pipeline.reports.templates import load_template
from analytics_pipeline_tests.conftest import PG_ADMIN_DSN, PG_HOST, service_missing
from analytics_pipeline_tests.deploy.topology import (
    DEPLOY, REPO, Topology, TopologyError, postgres_databases, rabbitmq_unreachable, rabbitmq_vhost,
    running_topology,
)

pytestmark = [pytest.mark.e2e, pytest.mark.topology, pytest.mark.postgres]

FIRST_DAY = date(2024, 3, 4)
DAYS = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(7)]
REPORT_DAY = DAYS[-1]
REPORT_TEMPLATE = "daily-activity-summary"
RUN_TIMEOUT = 150  # seconds for one run or the backfill, queueing included
END_STATUSES = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _landing_set(path: Path) -> int:
    """Seven days of generated traffic (same seed, same bytes, for both runs); valid events."""
    return EventGenerator(seed=1414, websites=3).write_days(path, FIRST_DAY, 7, 400).events


def _wh_url(db: str) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:5432/{db}"


def _env(tmp_path: Path, dbs: dict[str, str], vhost: str, which: str) -> dict[str, str]:
    """The environment every process of one side gets: its warehouse, directories, instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "DAGSTER_"))}
    env.update({
        "ANALYTICS_DATA_DIR": str(tmp_path / which / "data"),
        "ANALYTICS_DATABASE_URL": _wh_url(dbs[f"{which}_wh"]),
        "ANALYTICS_LANDING_DIR": str(tmp_path / which / "landing"),
        "ANALYTICS_REPORTS_DIR": str(tmp_path / which / "reports"),
        "ANALYTICS_START_DATE": "2024-03-01",
        "DAGSTER_HOME": str(tmp_path / which / "dagster_home"),
    })
    if which == "topology":
        env.update({
            "ANALYTICS_EXECUTOR": "celery",
            "ANALYTICS_CELERY_BROKER_URL": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
            "DAGSTER_PG_HOST": PG_HOST, "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": dbs["instance"],
        })
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    return env


def _wait_run(instance: dg.DagsterInstance, topology: Topology, run_id: str) -> dg.DagsterRun:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in END_STATUSES:
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise TopologyError(f"run {run_id} of {run.job_name}: {run.status}\n"
                                    f"{_run_errors(instance, run_id)}\n{topology.logs()}")
            return run
        time.sleep(1)
    raise TopologyError(f"run {run_id} not finished after {RUN_TIMEOUT}s\n{topology.logs()}")


def _wait_backfill(instance: dg.DagsterInstance, topology: Topology, backfill_id: str) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        backfill = instance.get_backfill(backfill_id)
        if backfill is not None and backfill.status.value.startswith(("COMPLETED", "FAILED", "CANCELED")):
            runs = list(instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))
            if all(r.status in END_STATUSES for r in runs):
                assert backfill.status.value.startswith("COMPLETED"), (backfill.status, topology.logs())
                return runs
        time.sleep(1)
    raise TopologyError(f"backfill {backfill_id} not finished after {RUN_TIMEOUT}s\n{topology.logs()}")


def _run_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.all_logs(run_id)
    return "\n".join(r.message or "" for r in records if r.is_dagster_event and r.dagster_event.is_failure)[-4000:]


def _celery_steps(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that executed it, from the run's engine events."""
    steps = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = record.dagster_event.engine_event_data.metadata or {}
        if "Celery worker" in metadata and record.step_key:
            steps[record.step_key] = metadata["Celery worker"].value
    return steps


def _executed_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {r.step_key for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}


def _daily_stats(db: str) -> list[tuple]:
    with psycopg.connect(f"host={PG_HOST} port=5432 user=postgres dbname={db}") as conn:
        return conn.execute(
            "SELECT website_id, date::text, total_pageviews, total_custom_events, unique_visitors, "
            "unique_sessions, top_pages::text, top_referrers::text, events_by_type::text, sessions_started, "
            "bounce_rate, avg_session_duration_seconds FROM daily_stats ORDER BY date, website_id").fetchall()


def _warehouse_counts(db: str) -> dict[str, int]:
    with psycopg.connect(f"host={PG_HOST} port=5432 user=postgres dbname={db}") as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("events", "event_keys", "sessions", "rejected_events")}
        counts["events in the seven days"] = conn.execute(
            "SELECT count(*) FROM events WHERE occurred_at >= %s::date AND occurred_at < %s::date + 1",
            (DAYS[0], DAYS[-1])).fetchone()[0]
        return counts


def _report(path: Path) -> dict:
    document = json.loads((path / REPORT_TEMPLATE / f"{REPORT_DAY}.json").read_text())
    document["metadata"].pop("generatedAt")
    return document


def _embedded(env: dict[str, str]) -> None:
    """The same work in this process: ingest, the seven days, the report, with Dagster's
    in-process execution on a temporary instance and the embedded side's warehouse."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("ANALYTICS_")})
    try:
        from analytics_pipeline.definitions import build_defs

        defs = build_defs()
        template = load_template(REPO / "report_templates" / f"{REPORT_TEMPLATE}.yaml")
        with dg.instance_for_test() as instance:
            assert defs.resolve_job_def("ingest_job").execute_in_process(instance=instance).success
            stats = defs.resolve_job_def("daily_stats_job")
            range_tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
            assert stats.execute_in_process(instance=instance, tags=range_tags).success
            report = defs.resolve_job_def(report_job_name(template))
            assert report.execute_in_process(instance=instance, partition_key=REPORT_DAY).success
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_ingest_backfill_and_report_through_the_production_topology(tmp_path: Path) -> None:
    missing = rabbitmq_unreachable()
    if missing:
        service_missing("RabbitMQ", RuntimeError(missing))
    try:
        psycopg.connect(PG_ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", exc)

    with postgres_databases(PG_ADMIN_DSN, "instance", "topology_wh", "embedded_wh") as dbs, rabbitmq_vhost() as vhost:
        topo_env = _env(tmp_path, dbs, vhost, "topology")
        embedded_env = _env(tmp_path, dbs, vhost, "embedded")
        (Path(topo_env["DAGSTER_HOME"]) / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
        events = _landing_set(Path(topo_env["ANALYTICS_LANDING_DIR"]))
        assert _landing_set(Path(embedded_env["ANALYTICS_LANDING_DIR"])) == events

        started = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str) -> None:
            phases[name] = round(time.monotonic() - started - sum(phases.values()), 1)

        with running_topology(topo_env, tmp_path / "topology") as topology:
            phase("start the topology")
            saved = dict(os.environ)
            os.environ.update({k: v for k, v in topo_env.items() if k.startswith("DAGSTER_")})
            try:
                instance = dg.DagsterInstance.get()
            finally:
                os.environ.clear()
                os.environ.update(saved)
            with instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"

                ingest = topology.launch_run("ingest_job")
                _wait_run(instance, topology, ingest)
                phase("ingest run")
                backfill_runs = _wait_backfill(instance, topology,
                                               topology.launch_asset_backfill("daily_stats", DAYS))
                phase("7-day backfill")
                template = load_template(REPO / "report_templates" / f"{REPORT_TEMPLATE}.yaml")
                report = topology.launch_run(report_job_name(template), {"dagster/partition": REPORT_DAY})
                _wait_run(instance, topology, report)
                phase("report run")

                # Every step of the three pieces of work ran in a Celery worker, not in the run.
                for run_id in [ingest, *(r.run_id for r in backfill_runs), report]:
                    executed = _executed_steps(instance, run_id)
                    on_workers = _celery_steps(instance, run_id)
                    assert executed and executed <= set(on_workers), (run_id, executed, on_workers)
                    assert all(w.startswith(("analytics-1@", "analytics-2@")) for w in on_workers.values()), on_workers
                assert {r.tags.get("dagster/asset_partition_range_start") for r in backfill_runs} == {DAYS[0]}

        phase("stop the topology")
        _embedded(embedded_env)
        phase("embedded run")
        print("seconds:", phases)

        topology_counts = _warehouse_counts(dbs["topology_wh"])
        assert topology_counts["events"] == topology_counts["event_keys"] == events
        assert topology_counts == _warehouse_counts(dbs["embedded_wh"])
        stats = _daily_stats(dbs["topology_wh"])
        assert len(stats) == 21 and sorted({row[1] for row in stats}) == DAYS  # 3 websites x 7 days
        # Every event of the seven days counted once (a session past midnight of the last day
        # puts a few events on the eighth).
        assert sum(row[2] + row[3] for row in stats) == topology_counts["events in the seven days"] > events - 20
        assert stats == _daily_stats(dbs["embedded_wh"])
        report = _report(Path(topo_env["ANALYTICS_REPORTS_DIR"]))
        overview = {(r["website_id"], r["metric"]): r for r in report["data"] if r["section"] == "overview"}
        day_rows = {row[0]: row for row in stats if row[1] == REPORT_DAY}
        day_before = {row[0]: row for row in stats if row[1] == DAYS[-2]}
        assert {w: (overview[w, "total_pageviews"]["value"], overview[w, "total_pageviews"]["previous"],
                    overview[w, "unique_visitors"]["value"]) for w, _ in overview} == {
            w: (row[2], day_before[w][2], row[4]) for w, row in day_rows.items()}
        assert report == _report(Path(embedded_env["ANALYTICS_REPORTS_DIR"]))
