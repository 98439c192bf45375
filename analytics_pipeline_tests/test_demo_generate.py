"""The demo generator's ids: the same day from the same state is the same events (same ids,
same bytes); anything else is new events with ids of their own."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from analytics_pipeline.demo.generate import EventGenerator, LearningEventGenerator


def _ids(paths: list[Path], field: str) -> set[str]:
    out = set()
    for path in paths:
        for line in path.read_bytes().splitlines():
            try:
                out.add(orjson.loads(line)[field])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # the generator's malformed lines
    return out


@pytest.mark.parametrize("field", ["event_id", "session_id"])
def test_a_later_run_for_a_demo_day_gets_ids_of_its_own(tmp_path: Path, field: str) -> None:
    demo = EventGenerator(seed=42, websites=3).write_days(tmp_path / "demo", date(2024, 3, 1), 5, 500)
    extra = EventGenerator(seed=42, websites=2).write_days(tmp_path / "extra", date(2024, 3, 5), 1, 200)
    other_seed = EventGenerator(seed=7, websites=3).write_days(tmp_path / "seed7", date(2024, 3, 1), 5, 500)

    demo_ids = _ids(demo.paths, field)
    assert len(demo_ids) > 500
    assert not demo_ids & _ids(extra.paths, field)
    assert not demo_ids & _ids(other_seed.paths, field)


def test_the_same_days_again_are_the_same_bytes(tmp_path: Path) -> None:
    whole = EventGenerator(seed=42).write_days(tmp_path / "whole", date(2024, 3, 1), 4, 300)
    first_two = EventGenerator(seed=42).write_days(tmp_path / "part", date(2024, 3, 1), 2, 300)
    assert [p.read_bytes() for p in first_two.paths] == [p.read_bytes() for p in whole.paths[:2]]


def test_learning_events_of_different_runs_do_not_share_ids(tmp_path: Path) -> None:
    a = LearningEventGenerator(seed=42).write_days(tmp_path / "a", date(2024, 3, 1), 3, 300)
    b = LearningEventGenerator(seed=42).write_days(tmp_path / "b", date(2024, 3, 3), 1, 300)
    assert a.paths[0].read_bytes() != b.paths[0].read_bytes()
    assert not _ids(a.paths, "event_id") & _ids(b.paths, "event_id")
    again = LearningEventGenerator(seed=42).write_days(tmp_path / "c", date(2024, 3, 1), 3, 300)
    assert [p.read_bytes() for p in again.paths] == [p.read_bytes() for p in a.paths]


def test_a_learner_completes_a_course_once_after_enrolling(tmp_path: Path) -> None:
    made = LearningEventGenerator(seed=42).write_days(tmp_path, date(2024, 3, 1), 30, 800)
    enrolled, completed = [], []
    for path in made.paths:
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            pair = (event["visitor_id"], event.get("properties", {}).get("courseId"))
            if event.get("event_name") == "UserEnrolled":
                enrolled.append(pair)
            elif event.get("event_name") == "UserCompletedCourse":
                assert pair in enrolled  # enrolled on an earlier line (files in day order)
                completed.append(pair)
    assert completed and len(completed) == len(set(completed))
    assert len(completed) < len(enrolled)  # so the demo's completion % stays under 100


def test_another_run_for_the_demo_s_last_day_loads_as_new_events(warehouse, landing_dir: Path) -> None:
    """What the README's "Add events" does after ``make demo``, on both warehouses: every event
    of the second run loads, and only its own re-sent lines are duplicates."""
    from analytics_pipeline.ingestion.run import ingest_landing

    demo = EventGenerator(seed=42, websites=3).write_days(landing_dir, date(2024, 3, 1), 3, 400)
    first = ingest_landing(warehouse, landing_dir, start_date=date(2024, 1, 1))
    assert (first.loaded, first.duplicates) == (demo.events, demo.duplicates)

    more = EventGenerator(seed=42, websites=2).write_days(landing_dir, date(2024, 3, 3), 1, 200, prefix="more")
    second = ingest_landing(warehouse, landing_dir, start_date=date(2024, 1, 1))
    assert (second.loaded, second.duplicates) == (more.events, more.duplicates)
    with warehouse.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
    assert stored == demo.events + more.events
