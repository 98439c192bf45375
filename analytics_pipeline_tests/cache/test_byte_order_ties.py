"""Ties in the cache's top lists and recent events are in byte order on both warehouses,
whatever the PostgreSQL database's collation (here an ICU en-US database, where 'a' < 'B' and
'é' < 'f': byte order says the opposite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analytics_pipeline.cache.entries import recent_activity_entries, top_items_entries
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.conftest import ThrowawayPostgres
from analytics_pipeline_tests.factories import event, write_jsonl

NOW = datetime(2024, 3, 2, 12, 0, tzinfo=timezone.utc)
WHEN = "2024-03-01T10:00:00Z"


@pytest.fixture(params=["sqlite", "postgresql-en-US"])
def collated_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        yield Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
        return
    database = ThrowawayPostgres(
        "analytics_test_icu", "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    try:
        warehouse = Warehouse(database.url)
        with warehouse.connect() as conn:  # the test can fail: this database orders 'a' before 'B'
            assert conn.exec_driver_sql("SELECT 'a' < 'B'").scalar() is True
        yield warehouse
    finally:
        database.drop()


def test_top_lists_and_recent_events_break_ties_in_byte_order(collated_warehouse: Warehouse, landing_dir: Path) -> None:
    paths = ["/a", "/é", "/Z", "/b"]
    referrers = ["f-news", "é-news", "z-news", "a-news"]
    rows = [event(event_id=f"p{i}", url_path=p, referrer=r, occurred_at="2024-03-01T09:00:00Z")
            for i, (p, r) in enumerate(zip(paths, referrers))]
    rows += [event(event_id=e, url_path="/x", occurred_at=WHEN) for e in ("a", "B", "é")]
    write_jsonl(landing_dir / "ties.jsonl", rows)
    ingest_landing(collated_warehouse, landing_dir, now=lambda: NOW, workers=0)

    top = top_items_entries(collated_warehouse, NOW, limits=(10,)).entries["analytics:top-items:all:10"]
    assert [p["item"] for p in top["pages"]] == ["/x", "/Z", "/a", "/b", "/é"]
    assert [r["item"] for r in top["referrers"]] == ["direct", "a-news", "f-news", "z-news", "é-news"]
    span = {"from": collated_warehouse.ts(datetime(2024, 3, 1, tzinfo=timezone.utc)),
            "to": collated_warehouse.ts(NOW), "top_n": 10}
    for dimension, expected in (("pages", ["/x", "/Z", "/a", "/b", "/é"]),
                                ("referrers", ["direct", "a-news", "f-news", "z-news", "é-news"])):
        by_site = collated_warehouse.query(f"select_cache_top_{dimension}_by_website", span)
        assert [r["item"] for r in by_site] == expected

    recent = recent_activity_entries(collated_warehouse, NOW, limits=(3,))
    assert [e["eventId"] for e in recent.entries["analytics:recent-activity:all:3"]["events"]] == ["é", "a", "B"]
    site = collated_warehouse.query("select_cache_recent_events_for_website",
                                    {"website_id": "site-a", "until": collated_warehouse.ts(NOW), "top_n": 3})
    assert [r["event_id"] for r in site] == ["é", "a", "B"]
