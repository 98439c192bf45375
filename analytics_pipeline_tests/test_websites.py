"""The websites file and local-day arithmetic: properties over every IANA zone, and the file's
validation (one bad entry falls back alone, nothing raises)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import yaml
from hypothesis import given, settings, strategies as st

from analytics_pipeline.websites import (
    BUCKET,
    WebsiteDirectory,
    Website,
    bucket_day,
    load_websites,
    local_day_bounds,
    zone_groups,
)

ZONES = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
EXAMPLES = int(os.environ.get("ANALYTICS_TEST_HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)


@SETTINGS
@given(zone=st.sampled_from(ZONES), day=st.dates(date(2024, 1, 1), date(2030, 12, 31)))
def test_local_days_tile_time_and_last_23_to_25_hours(zone: str, day: date) -> None:
    start, end = local_day_bounds(zone, day)
    after_start, after_end = local_day_bounds(zone, day + timedelta(days=1))
    assert end == after_start  # consecutive days touch: nothing lost, nothing doubled
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    assert start.astimezone(ZoneInfo(zone)).date() == day
    assert (end - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date() == day


@SETTINGS
@given(zone=st.sampled_from(ZONES), moment=st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31),
                                                         timezones=st.just(timezone.utc)))
def test_a_15_minute_bucket_never_straddles_a_local_midnight(zone: str, moment: datetime) -> None:
    directory = WebsiteDirectory(websites={"w": Website("w", "w", zone)})
    floor = moment - (moment - datetime(2000, 1, 1, tzinfo=timezone.utc)) % BUCKET
    assert bucket_day(directory, "w", floor) == moment.astimezone(ZoneInfo(zone)).date()


ENTRY = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=70), st.integers(), st.none()),
    "name": st.one_of(st.text(max_size=20), st.none(), st.integers()),
    "timezone": st.one_of(st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York", "Mars/Olympus", "", " UTC"]),
                          st.text(max_size=30), st.integers(), st.none()),
})


@SETTINGS
@given(entries=st.lists(st.one_of(ENTRY, st.text(max_size=10), st.integers()), max_size=6))
def test_any_websites_file_loads_and_only_bad_entries_fall_back(entries: list, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("w") / "websites.yaml"
    path.write_text(yaml.safe_dump({"websites": entries}), encoding="utf-8")
    directory = load_websites(path, "UTC")
    for site in directory.websites.values():
        ZoneInfo(site.timezone)  # every zone in use is valid
    good = [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str) and 1 <= len(e["id"]) <= 64]
    assert set(directory.websites) == {e["id"] for e in good}
    groups = zone_groups(directory)
    assert sorted(sid for g in groups[1:] for sid in g.include) == sorted(
        sid for sid, w in directory.websites.items() if w.timezone != "UTC")


def test_an_unknown_zone_names_the_file_and_entry_and_falls_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "websites.yaml"
    path.write_text("websites:\n  - {id: a, name: A, timezone: Asia/Kolkata}\n"
                    "  - {id: b, name: B, timezone: Mars/Olympus}\n", encoding="utf-8")
    directory = load_websites(path, "UTC")
    assert [str(p) for p in directory.problems] == [
        "websites.yaml: websites[1] (b).timezone: unknown time zone 'Mars/Olympus'; this website uses UTC"]
    assert directory.timezone_name("a") == "Asia/Kolkata" and directory.timezone_name("b") == "UTC"
    assert not directory.all_utc


def test_no_file_is_every_day_a_utc_day(tmp_path: Path) -> None:
    directory = load_websites(tmp_path / "missing.yaml", "UTC")
    assert directory.problems == [] and directory.all_utc
    assert [(g.timezone, g.include, g.exclude) for g in zone_groups(directory)] == [("UTC", None, ())]
