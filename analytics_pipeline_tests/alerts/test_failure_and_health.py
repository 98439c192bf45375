"""Job failures, a late aggregation and a large warehouse reach each configured channel exactly
once (real SMTP and HTTP receivers on 127.0.0.1) and are recorded in alert_history."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from analytics_pipeline.alerts.definitions import job_failure_alert_sensor, pipeline_health_sensor
from analytics_pipeline.alerts.history import recent
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.alerts.conftest import (
    ALERT_TO,
    SmtpReceiver,
    WebhookReceiver,
    alerting_resource,
    insert_daily_stats,
)
from analytics_pipeline_tests.factories import event, write_jsonl

TODAY = datetime.now(timezone.utc).date()


@dg.op
def load_partner_feed() -> int:
    return 1


@dg.op
def publish_feed(rows: int) -> None:
    raise ConnectionError(f"partner API refused the upload of {rows} row(s): 503 Service Unavailable")


@dg.job(tags={"analytics/owner": "team:web"})
def partner_feed_job() -> None:
    publish_feed(load_partner_feed())


@dg.job
def unowned_job() -> None:
    publish_feed(load_partner_feed())


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    path = tmp_path / "alert_rules"
    path.mkdir()
    (path / "routes.yaml").write_text(
        "default: [email, webhook]\nowners:\n  team:web: ['email:web-team@example.com']\n")
    return path


def run_failure_sensor_on(job: dg.JobDefinition, instance: dg.DagsterInstance, resources: dict) -> dg.DagsterRun:
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="job_failure_alert_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run, resources=resources)
    with context:
        job_failure_alert_sensor(context)
    return result.dagster_run


def test_a_failed_run_is_sent_once_per_channel_on_the_default_route(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, rules_dir: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook)}
    run = run_failure_sensor_on(unowned_job, instance, all_resources)

    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
    body = webhook.posts[0]["json"]
    link = f"http://dagster.example.com:3000/runs/{run.run_id}"
    assert body["title"] == "[analytics critical] Job unowned_job failed"
    assert body["fields"]["job"] == "unowned_job"
    assert body["fields"]["failed_step"] == "publish_feed"
    assert body["fields"]["error"].startswith("ConnectionError: partner API refused the upload of 1 row(s)")
    assert body["link"] == link and link in body["text"]
    assert webhook.posts[0]["content_type"] == "application/json"
    mail = smtp.messages[0]
    assert mail["Subject"] == "[analytics critical] Job unowned_job failed"
    assert smtp.envelopes == [("alerts@example.com", [ALERT_TO])]
    text = mail.get_content()
    assert "failed in step publish_feed" in text and "503 Service Unavailable" in text and link in text

    history = recent(warehouse)
    assert sorted((h["kind"], h["rule"], h["run_id"], h["severity"], h["status"], h["day"],
                   h["sent_to"].split(":")[0]) for h in history) == [
        ("job_failure", "job_failed:unowned_job", run.run_id, "critical", "sent", TODAY, "email"),
        ("job_failure", "job_failed:unowned_job", run.run_id, "critical", "sent", TODAY, "webhook"),
    ]


def test_a_failed_run_follows_its_owner_route(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, rules_dir: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook)}
    run_failure_sensor_on(partner_feed_job, instance, all_resources)
    assert webhook.posts == []
    assert smtp.envelopes == [("alerts@example.com", ["web-team@example.com"])]
    assert "owner: team:web" in smtp.messages[0].get_content()
    assert [h["sent_to"] for h in recent(warehouse)] == ["email:web-team@example.com"]


def plant_late_aggregation(warehouse: Warehouse, landing_dir: Path) -> date:
    """Statistics up to three days ago; events from two days ago never aggregated."""
    latest = TODAY - timedelta(days=3)
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": latest}])
    when = datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=9)
    write_jsonl(landing_dir / "late.jsonl", [event(website_id="shop", occurred_at=when)])
    assert ingest_landing(warehouse, landing_dir).loaded == 1
    return latest


def test_a_late_aggregation_is_sent_once_per_channel_then_held_by_cooldown(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, landing_dir: Path,
        rules_dir: Path, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    latest = plant_late_aggregation(warehouse, landing_dir)
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook)}
    for _ in range(2):  # the second tick falls within the 6h health cooldown
        with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
            message = pipeline_health_sensor(context).skip_message
    assert "2 held by cooldown" in message
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
    body = webhook.posts[0]["json"]
    assert body["title"] == "[analytics critical] Daily aggregation is behind"
    assert f"The latest daily statistics are for {latest}" in body["text"]
    assert float(body["fields"]["hours_behind"]) > 48
    history = recent(warehouse)
    assert sorted((h["kind"], h["rule"], h["day"], h["threshold"], h["status"]) for h in history) == [
        ("freshness", "aggregation_behind", latest, 36.0, "sent")] * 2
    assert all(h["value"] > 48 for h in history)


def test_fresh_statistics_or_nothing_waiting_is_not_late(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, landing_dir: Path,
        rules_dir: Path, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook)}
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": TODAY - timedelta(days=5)}])
    with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
        assert "events waiting: False" in pipeline_health_sensor(context).skip_message  # quiet site
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": TODAY - timedelta(days=1)}])
    when = datetime.now(timezone.utc) - timedelta(minutes=30)
    write_jsonl(landing_dir / "today.jsonl", [event(website_id="shop", occurred_at=when)])
    ingest_landing(warehouse, landing_dir)
    with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
        assert "no alert fired" in pipeline_health_sensor(context).skip_message
    assert webhook.posts == [] and smtp.messages == [] and recent(warehouse) == []


def test_a_warehouse_over_its_size_limit(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, rules_dir: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook, warehouse_max_bytes="1KB")}
    with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
        pipeline_health_sensor(context)
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
    fields = webhook.posts[0]["json"]["fields"]
    assert int(fields["size_bytes"]) > 1000 and fields["limit_bytes"] == "1000"
    assert {(h["kind"], h["threshold"]) for h in recent(warehouse)} == {("warehouse_size", 1000.0)}


def test_a_failed_run_is_sent_even_when_the_warehouse_is_down(
        instance: dg.DagsterInstance, rules_dir: Path, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    from analytics_pipeline.resources import WarehouseResource

    down = WarehouseResource(database_url="postgresql+psycopg://postgres@127.0.0.1:1/analytics")
    run_failure_sensor_on(unowned_job, instance,
                          {"warehouse": down, "alerting": alerting_resource(rules_dir, smtp, webhook)})
    assert (len(smtp.messages), len(webhook.posts)) == (1, 1)


def test_a_run_whose_code_server_stopped_answering(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, rules_dir: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    import json
    import socket

    from dagster._core.storage.tags import GRPC_INFO_TAG

    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = instance.add_run(dg.DagsterRun(job_name="ingest_job", status=dg.DagsterRunStatus.STARTED,
                                         tags={GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}))
    all_resources = {**resources, "alerting": alerting_resource(rules_dir, smtp, webhook)}
    with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
        message = pipeline_health_sensor(context).skip_message
    assert "1 code server(s) of runs in progress do not answer" in message
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
    body = webhook.posts[0]["json"]
    assert body["title"] == "[analytics critical] A code server stopped answering"
    assert f"127.0.0.1:{port} does not answer" in body["text"] and run.run_id[:8] in body["text"]
    assert [(h["kind"], h["rule"], h["status"]) for h in recent(warehouse)] == [
        ("code_location", "code_location_unreachable", "sent")] * 2
