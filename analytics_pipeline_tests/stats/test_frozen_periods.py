"""Statistics of days whose raw events retention deleted are final: a rebuild leaves them alone."""

from datetime import date, datetime, timezone

from analytics_pipeline.stats.build import build_period, read_period
from analytics_pipeline_tests.factories import event, write_jsonl
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.sessions.build import update_sessions

NOW = datetime(2024, 3, 10, tzinfo=timezone.utc)


def test_rebuilding_a_period_with_a_dropped_day_keeps_its_statistics(warehouse, landing_dir):
    write_jsonl(landing_dir / "a.jsonl", [
        event(event_id="e1", occurred_at="2024-03-04T10:00:00Z"),
        event(event_id="e2", occurred_at="2024-03-05T10:00:00Z"),
    ])
    ingest_landing(warehouse, landing_dir, now=lambda: NOW)
    update_sessions(warehouse, timeout_minutes=30, now=NOW)
    for grain, start in (("day", date(2024, 3, 4)), ("week", date(2024, 3, 4))):
        build_period(warehouse, grain, start, now=NOW)
    before = read_period(warehouse, "week", date(2024, 3, 4))
    assert before[0]["total_pageviews"] == 2

    with warehouse.begin() as conn:  # what retention does for 2024-03-04
        conn.execute(warehouse.sql("insert_retention_dropped_day"),
                     {"day": warehouse.day(date(2024, 3, 4)), "events": 1,
                      "dropped_at": warehouse.ts(NOW), "run_id": "test"})
        conn.exec_driver_sql("DELETE FROM events WHERE event_id = 'e1'")

    assert build_period(warehouse, "week", date(2024, 3, 4), now=NOW) == 0
    assert build_period(warehouse, "day", date(2024, 3, 4), now=NOW) == 0
    assert read_period(warehouse, "week", date(2024, 3, 4)) == before
    assert read_period(warehouse, "day", date(2024, 3, 4))[0]["total_pageviews"] == 1
    assert build_period(warehouse, "day", date(2024, 3, 5), now=NOW) == 1  # other periods still build
