"""End to end through the real command lines, as a data engineer runs them headless.

Each ``dagster`` CLI call costs seconds of process start, so this file keeps to a few calls.
"""

import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update({
        "ANALYTICS_DATA_DIR": str(tmp_path / "data"),
        "ANALYTICS_START_DATE": "2024-03-01",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    })
    (tmp_path / "dagster_home").mkdir()
    return env


def _run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _numbers(pattern: str, text: str) -> tuple[int, ...]:
    match = re.search(pattern, text)
    assert match, text
    return tuple(int(n.replace(",", "")) for n in match.groups())


def test_headless_ingest_sessions_and_backfill(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run([str(BIN / "analytics-pipeline"), "generate-events", "--days", "3", "--events-per-day", "300",
          "--end", "2024-03-03", "--seed", "7"], env)
    module = ["-m", "analytics_pipeline.definitions"]
    _run([str(BIN / "dagster"), "asset", "materialize", *module, "--select", "raw_events,sessions"], env)
    _run([str(BIN / "dagster"), "asset", "materialize", *module, "--select", "daily_stats",
          "--partition-range", "2024-03-01...2024-03-03"], env)

    db = sqlite3.connect(tmp_path / "data" / "warehouse.db")
    events = dict(db.execute("SELECT substr(occurred_at, 1, 10), count(*) FROM events "
                             "WHERE occurred_at < '2024-03-04' GROUP BY 1"))
    stats = dict(db.execute("SELECT date, sum(total_pageviews + total_custom_events) FROM daily_stats GROUP BY 1"))
    assert sorted(stats) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert stats == events
    assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] > 0
    assert not list((tmp_path / "data" / "landing").glob("*.jsonl"))  # moved to processed/


def test_demo_command_runs_the_whole_graph(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["ANALYTICS_START_DATE"] = "2024-01-01"
    out = _run([str(BIN / "analytics-pipeline"), "demo", "--days", "3", "--events-per-day", "400"], env)
    assert "raw_events:" in out and "Summary" in out
    db = sqlite3.connect(tmp_path / "data" / "warehouse.db")
    yesterday_rows = db.execute("SELECT count(*) FROM daily_stats WHERE date = date('now', '-1 day')").fetchone()[0]
    assert yesterday_rows == 4  # three demo websites and the learning platform
    assert "learning platform" in out and "completion %" in out  # the demo prints the course views
    metric_rows = db.execute("SELECT count(DISTINCT metric) FROM metric_values").fetchone()[0]
    assert metric_rows == 6  # every shipped metric file
    assert db.execute("SELECT count(*) FROM hourly_stats").fetchone()[0] > 0
    assert date.today().isoformat() not in {r[0] for r in db.execute("SELECT date FROM daily_stats")}

    # The README's "Add events" after the demo: new events, not duplicates of the demo's
    # (the generator's ids once restarted at e-0000000001 and all 200 came back as duplicates).
    wrote = _run([str(BIN / "analytics-pipeline"), "generate-events", "--days", "1", "--events-per-day", "200",
                  "--websites", "2"], env)
    events, resent = _numbers(r"\(([\d,]+) events, ([\d,]+) re-sent", wrote)
    ingested = _run([str(BIN / "analytics-pipeline"), "ingest"], env)
    loaded, duplicates = _numbers(r"([\d,]+) loaded, ([\d,]+) duplicates", ingested)
    assert (loaded, duplicates) == (events, resent), ingested
