"""Cache windows in local days: a website's entries cover its own full local days before its
local today; ``all`` entries cover the days that have ended for every website (hand-computed,
both backends)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from analytics_pipeline.cache import entries as E
from analytics_pipeline.sessions.build import update_sessions
from analytics_pipeline.stats.build import build_period
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline.websites import load_websites
from analytics_pipeline_tests.stats.helpers import drop, ingest

# 06:00Z on 03-12 is 20:00 on 03-12 in Kiritimati (+14), 18:00 on 03-11 at -12:00, 06:00 at UTC:
# the last day ended everywhere is 03-10.
NOW = datetime(2024, 3, 12, 6, 0, tzinfo=timezone.utc)
EVENTS = [("kir", "/k1", "2024-03-10T12:00:00Z"),   # kir local 03-11
          ("m12", "/m1", "2024-03-11T03:00:00Z"),   # m12 local 03-10
          ("m12", "/m2", "2024-03-11T13:00:00Z"),   # m12 local 03-11: its today, not a full day
          ("plain", "/p", "2024-03-11T10:00:00Z")]  # UTC 03-11


@pytest.fixture
def zoned(warehouse: Warehouse, landing_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    path = tmp_path / "websites.yaml"
    path.write_text(yaml.safe_dump({"websites": [{"id": "kir", "name": "K", "timezone": "Pacific/Kiritimati"},
                                                 {"id": "m12", "name": "M", "timezone": "Etc/GMT+12"}]}))
    monkeypatch.setenv("ANALYTICS_WEBSITES_FILE", str(path))
    websites = load_websites(path, "UTC")
    drop(landing_dir, "e.jsonl", [{"event_id": f"c{i}", "website_id": site, "session_id": f"c{i}", "visitor_id": "v",
                                   "event_type": "pageview", "occurred_at": at, "url_path": p}
                                  for i, (site, p, at) in enumerate(EVENTS)])
    ingest(warehouse, landing_dir, NOW)
    update_sessions(warehouse, timeout_minutes=30, now=NOW, websites=websites)
    for d in (10, 11):
        build_period(warehouse, "day", date(2024, 3, d), now=NOW, websites=websites)
    return warehouse


def test_activity_trends_windows(zoned: Warehouse) -> None:
    entries = E.activity_trends_entries(zoned, NOW).entries

    def window(scope: str) -> tuple[str, str, dict[str, int]]:
        e = entries[E.activity_trends_key(scope, 7)]
        return e["from"], e["to"], {p["date"]: p["pageviews"] for p in e["series"] if p["pageviews"]}

    assert window("kir") == ("2024-03-05", "2024-03-12", {"2024-03-11": 1})
    assert window("m12") == ("2024-03-04", "2024-03-11", {"2024-03-10": 1})
    assert window("plain") == ("2024-03-05", "2024-03-12", {"2024-03-11": 1})
    assert window("all") == ("2024-03-04", "2024-03-11", {"2024-03-10": 1})


def test_top_items_windows(zoned: Warehouse) -> None:
    entries = E.top_items_entries(zoned, NOW).entries

    def pages(scope: str) -> tuple[str, str, list]:
        e = entries[E.top_items_key(scope, 10)]
        return e["from"], e["to"], e["pages"]

    assert pages("kir") == ("2024-02-11", "2024-03-12", [{"item": "/k1", "count": 1}])
    assert pages("m12") == ("2024-02-10", "2024-03-11", [{"item": "/m1", "count": 1}])
    assert pages("plain") == ("2024-02-11", "2024-03-12", [{"item": "/p", "count": 1}])
    assert pages("all") == ("2024-02-10", "2024-03-11", [{"item": "/m1", "count": 1}])


def test_summary_presets_count_their_utc_window_from_events(zoned: Warehouse) -> None:
    entries = E.summary_entries(zoned, NOW).entries
    last7 = entries[E.summary_key(datetime(2024, 3, 5, tzinfo=timezone.utc), datetime(2024, 3, 12, tzinfo=timezone.utc))]
    assert last7 == {"totalEvents": 4, "uniqueUsers": 1, "eventsByType": {"pageview": 4}}
