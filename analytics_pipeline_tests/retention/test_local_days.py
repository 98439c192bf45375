"""Retention in websites' local days: whole local days go (each website's own), the guard
compares raw events of a local day with that day's statistics, a UTC day partition is dropped
only once every local day in it is gone; on both backends."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from analytics_pipeline.retention.run import run_retention
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import load_websites
from analytics_pipeline_tests.stats.helpers import drop, ingest

TODAY = date(2024, 4, 10)  # with 5 days kept, the first kept local day is 2024-04-05
LOADED = datetime(2024, 4, 9, tzinfo=timezone.utc)
# id -> (UTC instant, the website's local day); kir is +14:00, m12 -12:00, plain UTC.
EVENTS = {
    "kir-early": ("kir", "2024-04-02T12:00:00Z"),   # local 04-03
    "plain-early": ("plain", "2024-04-02T12:00:00Z"),  # 04-02
    "kir-old": ("kir", "2024-04-04T09:59:00Z"),     # local 04-04 23:59: goes
    "kir-new": ("kir", "2024-04-04T10:00:00Z"),     # local 04-05 00:00: stays (UTC 04-04!)
    "m12-old": ("m12", "2024-04-05T11:59:00Z"),     # local 04-04 23:59: goes (UTC 04-05!)
    "m12-new": ("m12", "2024-04-05T12:00:00Z"),     # local 04-05: stays
    "plain-old": ("plain", "2024-04-04T23:59:00Z"),
    "plain-new": ("plain", "2024-04-05T00:00:00Z"),
}


@pytest.fixture
def websites(tmp_path: Path):
    path = tmp_path / "websites.yaml"
    path.write_text(yaml.safe_dump({"websites": [{"id": "kir", "name": "Kiritimati", "timezone": "Pacific/Kiritimati"},
                                                 {"id": "m12", "name": "Baker", "timezone": "Etc/GMT+12"}]}))
    return load_websites(path, "UTC")


def _load(warehouse: Warehouse, landing_dir: Path, websites) -> None:
    drop(landing_dir, "r.jsonl", [{"event_id": k, "website_id": site, "session_id": k, "visitor_id": k,
                                   "event_type": "pageview", "occurred_at": at, "url_path": "/"}
                                  for k, (site, at) in EVENTS.items()])
    ingest(warehouse, landing_dir, LOADED)
    update_sessions(warehouse, timeout_minutes=30, now=LOADED, websites=websites)


def _materialized(days: list[date]) -> dict[str, set[str]]:
    return {"day": {d.isoformat() for d in days}, "week": {"2024-04-01"}, "month": {"2024-04-01"}}


def _remaining(warehouse: Warehouse) -> set[str]:
    with warehouse.connect() as conn:
        return set(conn.execute(sa.text("SELECT event_id FROM events")).scalars())


DAYS = [date(2024, 4, d) for d in (2, 3, 4, 5)]


def test_whole_local_days_go_and_partitions_only_when_empty(warehouse: Warehouse, landing_dir: Path, websites) -> None:
    _load(warehouse, landing_dir, websites)
    for day in DAYS:
        build_period(warehouse, "day", day, now=datetime.now(timezone.utc), websites=websites)
    build_period(warehouse, "week", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)
    build_period(warehouse, "month", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)

    result = run_retention(warehouse, materialized=_materialized(DAYS), retention_days=5, today=TODAY,
                           pause_seconds=0, log=lambda _m: None, websites=websites)

    assert result.days_kept == []
    assert result.days_dropped == [date(2024, 4, 2), date(2024, 4, 3), date(2024, 4, 4)]
    assert result.events_deleted == 5
    assert _remaining(warehouse) == {"kir-new", "m12-new", "plain-new"}
    # Sessions last active before the first zone's first kept midnight (kir: 04-04 10:00Z).
    assert result.sessions_deleted == 3
    if warehouse.is_postgres:
        assert result.partitions_dropped == ["events_p20240402"]  # 04-04 and 04-05 still hold kept days
        assert result.event_keys_deleted == 5


def test_the_guard_reasons_in_local_days(warehouse: Warehouse, landing_dir: Path, websites) -> None:
    _load(warehouse, landing_dir, websites)
    for day in DAYS:  # m12's local 04-04 built in UTC days: its event is counted on 04-05
        build_period(warehouse, "day", day, now=datetime.now(timezone.utc), websites=websites if day != date(2024, 4, 4) else load_websites(Path("/nonexistent"), "UTC"))
    build_period(warehouse, "week", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)
    build_period(warehouse, "month", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)

    result = run_retention(warehouse, materialized=_materialized(DAYS), retention_days=5, today=TODAY,
                           pause_seconds=0, log=lambda _m: None, websites=websites)

    kept = {k.day: k.reasons for k in result.days_kept}
    assert list(kept) == [date(2024, 4, 4)]
    assert "no daily_stats row for website m12 (1 raw events)" in kept[date(2024, 4, 4)]
    assert _remaining(warehouse) == {"kir-old", "kir-new", "m12-old", "m12-new", "plain-old", "plain-new"}


def test_ingestion_judges_a_late_event_by_its_websites_local_day(warehouse: Warehouse, landing_dir: Path, websites,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _load(warehouse, landing_dir, websites)
    for day in DAYS:
        build_period(warehouse, "day", day, now=datetime.now(timezone.utc), websites=websites)
    build_period(warehouse, "week", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)
    build_period(warehouse, "month", date(2024, 4, 1), now=datetime.now(timezone.utc), websites=websites)
    run_retention(warehouse, materialized=_materialized(DAYS), retention_days=5, today=TODAY,
                  pause_seconds=0, log=lambda _m: None, websites=websites)
    monkeypatch.setenv("ANALYTICS_WEBSITES_FILE", websites.source)

    from analytics_pipeline.ingestion.run import ingest_landing

    drop(landing_dir, "late.jsonl", [
        # UTC 04-05 (kept there) but Baker Island's 04-04, which retention dropped: rejected
        {"event_id": "late-m12", "website_id": "m12", "session_id": "l1", "visitor_id": "l", "event_type": "pageview",
         "occurred_at": "2024-04-05T11:00:00Z", "url_path": "/"},
        # UTC 04-04 (a dropped date) but Kiritimati's 04-05, which is kept: loaded
        {"event_id": "late-kir", "website_id": "kir", "session_id": "l2", "visitor_id": "l", "event_type": "pageview",
         "occurred_at": "2024-04-04T11:00:00Z", "url_path": "/"},
    ])
    result = ingest_landing(warehouse, landing_dir, now=lambda: LOADED, workers=0)

    assert (result.loaded, result.rejected) == (1, 1)
    assert "late-kir" in _remaining(warehouse)
    with warehouse.connect() as conn:
        reason = conn.exec_driver_sql("SELECT reason FROM rejected_events").scalar_one()
    assert reason.startswith("occurred_at falls on 2024-04-04, a day whose raw events retention has deleted")
