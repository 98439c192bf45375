"""The landing sensor, one test per cursor scenario (no warehouse involved)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline.ingestion.definitions import ingest_job, landing_sensor
from analytics_pipeline.ingestion.relaunch import MAX_LAUNCHES, LandingCursor, decide, relaunch_delay
from analytics_pipeline.orchestration import SINGLETON_TAG
from analytics_pipeline.resources import PipelineSettings
from analytics_pipeline_tests.factories import event, write_jsonl


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """An in-memory instance (the sensor only reads runs): ~10x faster to make than a temp one."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def pipeline(landing_dir: Path, tmp_path: Path) -> PipelineSettings:
    return PipelineSettings(landing_dir=str(landing_dir), reports_dir=str(tmp_path / "reports"))


def evaluate(instance: dg.DagsterInstance, pipeline: PipelineSettings, cursor: str | None = None):
    context = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"pipeline": pipeline})
    return landing_sensor(context), context.cursor


def test_no_files_skips(instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path) -> None:
    result, cursor = evaluate(instance, pipeline)
    assert isinstance(result, dg.SkipReason)
    assert "no pending files" in result.skip_message
    assert cursor is None


def test_only_processed_hidden_or_partial_files_skip(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "processed" / "old.jsonl", [event()])
    write_jsonl(landing_dir / ".incoming.jsonl", [event()])
    write_jsonl(landing_dir / "upload.jsonl.part", [event()])
    (landing_dir / "notes.txt").write_text("not an event file")
    result, _ = evaluate(instance, pipeline)
    assert isinstance(result, dg.SkipReason)


def test_new_files_request_a_run_and_move_the_cursor(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event()])
    write_jsonl(landing_dir / "b.csv.gz", [event()])
    result, cursor = evaluate(instance, pipeline)
    assert isinstance(result, dg.RunRequest)
    assert result.run_key and result.run_key.startswith("landing:")
    assert result.tags[SINGLETON_TAG] == ingest_job.name
    assert result.tags["analytics/files"] == "2"
    assert cursor and "a.jsonl" in cursor and "b.csv.gz" in cursor


def test_same_file_set_as_cursor_skips(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event()])
    first, cursor = evaluate(instance, pipeline)
    assert isinstance(first, dg.RunRequest)
    second, cursor_after = evaluate(instance, pipeline, cursor)
    assert isinstance(second, dg.SkipReason)
    assert "already launched" in second.skip_message
    assert cursor_after == cursor


def test_another_file_after_the_cursor_requests_a_new_run(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event()])
    first, cursor = evaluate(instance, pipeline)
    write_jsonl(landing_dir / "b.jsonl", [event()])
    second, cursor_after = evaluate(instance, pipeline, cursor)
    assert isinstance(second, dg.RunRequest)
    assert second.run_key != first.run_key
    assert cursor_after != cursor


def test_a_rewritten_file_counts_as_new(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    path = write_jsonl(landing_dir / "a.jsonl", [event()])
    _, cursor = evaluate(instance, pipeline)
    write_jsonl(path, [event(), event()])
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    result, _ = evaluate(instance, pipeline, cursor)
    assert isinstance(result, dg.RunRequest)


def _add_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, job_name: str = "ingest_job") -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4()), status=status))


def test_run_in_progress_skips_with_a_reason_and_keeps_the_cursor(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    running = _add_run(instance, dg.DagsterRunStatus.STARTED)
    write_jsonl(landing_dir / "a.jsonl", [event()])
    result, cursor = evaluate(instance, pipeline, cursor="[]")
    assert isinstance(result, dg.SkipReason)
    assert running.run_id[:8] in result.skip_message and "ingest_job" in result.skip_message
    assert cursor == "[]", "the files must be launched for once the run is over"

    instance.report_run_canceled(running)  # the run ends: the next tick launches
    result, _ = evaluate(instance, pipeline, cursor="[]")
    assert isinstance(result, dg.RunRequest)


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING])
def test_starting_or_canceling_run_also_skips(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path, status: dg.DagsterRunStatus
) -> None:
    _add_run(instance, status)
    write_jsonl(landing_dir / "a.jsonl", [event()])
    result, _ = evaluate(instance, pipeline)
    assert isinstance(result, dg.SkipReason)


def test_finished_runs_and_other_jobs_do_not_block(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    _add_run(instance, dg.DagsterRunStatus.SUCCESS)
    _add_run(instance, dg.DagsterRunStatus.FAILURE)
    _add_run(instance, dg.DagsterRunStatus.STARTED, job_name="daily_stats_job")
    write_jsonl(landing_dir / "a.jsonl", [event()])
    result, _ = evaluate(instance, pipeline)
    assert isinstance(result, dg.RunRequest)


# -- relaunching the same pending files after a failed run, with backoff ------------------------
def _cursor(landing_dir: Path, instance: dg.DagsterInstance, pipeline: PipelineSettings, **changes) -> str:
    """The cursor of a launch for the files now pending, with fields overridden."""
    _, cursor = evaluate(instance, pipeline)
    state = LandingCursor.loads(cursor)
    for key, value in changes.items():
        setattr(state, key, value)
    return state.dumps()


def test_a_failed_run_for_the_same_files_is_relaunched_after_the_backoff(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event()])
    _add_run(instance, dg.DagsterRunStatus.FAILURE)
    cursor = _cursor(landing_dir, instance, pipeline, last_launch=time.time() - 20)
    waiting, kept = evaluate(instance, pipeline, cursor)
    assert isinstance(waiting, dg.SkipReason)
    assert "1 of 6 launches" in waiting.skip_message and "launching again in" in waiting.skip_message
    assert kept == cursor

    cursor = _cursor(landing_dir, instance, pipeline, last_launch=time.time() - 61)
    again, moved = evaluate(instance, pipeline, cursor)
    assert isinstance(again, dg.RunRequest)
    assert again.run_key.endswith(":2") and again.tags["analytics/launch"] == "2"
    assert LandingCursor.loads(moved).launches == 2


def test_the_backoff_doubles_and_is_capped() -> None:
    assert [relaunch_delay(n) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1800, 1800]
    state = LandingCursor("files", launches=3, last_launch=1000.0)
    assert decide(state, "files", last_run_ended=1100.0, now=1100.0 + 239).action == "wait"
    assert decide(state, "files", last_run_ended=1100.0, now=1100.0 + 240).action == "launch"
    assert decide(state, "other files", last_run_ended=None, now=0.0).action == "launch"


def test_the_sensor_gives_up_after_max_launches_and_says_so(
    instance: dg.DagsterInstance, pipeline: PipelineSettings, landing_dir: Path
) -> None:
    write_jsonl(landing_dir / "a.jsonl", [event()])
    failed = _add_run(instance, dg.DagsterRunStatus.FAILURE)
    cursor = _cursor(landing_dir, instance, pipeline, launches=MAX_LAUNCHES, last_launch=0.0)
    result, kept = evaluate(instance, pipeline, cursor)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message.startswith(f"gave up: 1 file(s) are still pending after {MAX_LAUNCHES} launches")
    assert failed.run_id[:8] in result.skip_message
    assert kept == cursor
    write_jsonl(landing_dir / "b.jsonl", [event()])  # new files start over
    result, moved = evaluate(instance, pipeline, cursor)
    assert isinstance(result, dg.RunRequest)
    assert LandingCursor.loads(moved).launches == 1
