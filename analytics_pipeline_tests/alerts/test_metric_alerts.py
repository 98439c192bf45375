"""Metric rules end to end on both warehouses: daily_stats materializes, the alert sensor
evaluates the shipped rules, a planted spike reaches each channel exactly once, cooldown holds
it back afterwards, and alert_history shows it."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.alerts.definitions import daily_stats_alert_sensor
from analytics_pipeline.alerts.history import Alert, recent, send_alert
from analytics_pipeline.alerts.run import alert_metrics
from analytics_pipeline.alerts.rules import load_rules
from analytics_pipeline.ingestion.run import ingest_landing
from analytics_pipeline.stats.definitions import daily_stats
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.alerts.conftest import (
    ALERT_TO,
    SmtpReceiver,
    WebhookReceiver,
    alerting_resource,
    insert_daily_stats,
)
from analytics_pipeline_tests.factories import event, write_jsonl

NOW = datetime.now(timezone.utc)
SPIKE_DAY = NOW.date() - timedelta(days=1)


def steady_history(warehouse: Warehouse, site: str, last_day: date, days: int = 28) -> None:
    """``days`` days before ``last_day`` of ~100 pageviews (98/102 alternating)."""
    insert_daily_stats(warehouse, [
        {"website_id": site, "date": last_day - timedelta(days=i), "total_pageviews": 98 if i % 2 else 102,
         "unique_visitors": 40}
        for i in range(1, days + 1)
    ])


def spike_events(landing: Path, site: str, day: date, pageviews: int) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=8)
    write_jsonl(landing / f"{site}-{day}.jsonl", [
        event(website_id=site, session_id=f"s-{i % 150}", visitor_id=f"v-{i % 150}",
              occurred_at=start + timedelta(seconds=20 * i), url_path=f"/p/{i % 7}")
        for i in range(pageviews)
    ])


def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "alert_rules"
    shutil.copytree(settings.alert_rules_dir(), target)
    return target


def test_a_planted_spike_notifies_each_channel_exactly_once(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, landing_dir: Path,
        tmp_path: Path, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    steady_history(warehouse, "shop", SPIKE_DAY)
    steady_history(warehouse, "blog", SPIKE_DAY)
    spike_events(landing_dir, "shop", SPIKE_DAY, pageviews=600)
    spike_events(landing_dir, "blog", SPIKE_DAY, pageviews=100)  # a normal day
    ingest_landing(warehouse, landing_dir)
    all_resources = {**resources, "alerting": alerting_resource(rules_dir(tmp_path), smtp, webhook)}

    assert dg.materialize([daily_stats], partition_key=SPIKE_DAY.isoformat(), resources=resources,
                          instance=instance).success
    with dg.build_sensor_context(instance=instance, resources=all_resources) as context:
        result = daily_stats_alert_sensor(context)
    assert "1 alert(s) fired: 2 sent" in result.skip_message, result.skip_message

    assert len(webhook.posts) == 1
    body = webhook.posts[0]["json"]
    assert body["title"] == f"[analytics warning] traffic_anomaly: total_pageviews on shop ({SPIKE_DAY})"
    assert "total_pageviews of shop on" in body["text"] and "is 600" in body["text"]
    assert body["fields"]["website"] == "shop" and body["fields"]["value"] == "600"
    assert len(smtp.messages) == 1
    assert smtp.envelopes == [("alerts@example.com", [ALERT_TO])]
    assert smtp.messages[0]["Subject"] == body["title"]

    history = recent(warehouse)
    assert sorted((h["rule"], h["website"], h["day"], h["value"], h["threshold"], h["severity"], h["status"],
                   h["sent_to"].split(":")[0]) for h in history) == [
        ("traffic_anomaly", "shop", SPIKE_DAY, 600.0, 3.0, "warning", "sent", "email"),
        ("traffic_anomaly", "shop", SPIKE_DAY, 600.0, 3.0, "warning", "sent", "webhook"),
    ]

    # the day is re-aggregated (late data): evaluated again, but within the 24h cooldown
    assert dg.materialize([daily_stats], partition_key=SPIKE_DAY.isoformat(), resources=resources,
                          instance=instance).success
    with dg.build_sensor_context(instance=instance, resources=all_resources, cursor=context.cursor) as again:
        assert "2 held by cooldown" in daily_stats_alert_sensor(again).skip_message
    assert (len(webhook.posts), len(smtp.messages), len(recent(warehouse))) == (1, 1, 2)

    # nothing new materialized: nothing evaluated
    with dg.build_sensor_context(instance=instance, resources=all_resources, cursor=again.cursor) as idle:
        assert "no new daily_stats materialization" in daily_stats_alert_sensor(idle).skip_message


def test_a_broken_rule_file_is_reported_and_the_other_rules_still_run(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, tmp_path: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "busy.yaml").write_text("metric: total_pageviews\ncondition: above\nthreshold: 150\n")
    (rules / "broken.yaml").write_text("metric: total_pageviews\ncondition: above\nthreshold: many\n")
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": SPIKE_DAY, "total_pageviews": 200}])

    @dg.asset(name="daily_stats", partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
    def stand_in_daily_stats() -> None:
        """Materializes the daily_stats key only: the rows are planted above."""

    dg.materialize([stand_in_daily_stats], partition_key=SPIKE_DAY.isoformat(), instance=instance)
    with dg.build_sensor_context(
            instance=instance, resources={**resources, "alerting": alerting_resource(rules, smtp, webhook)}) as context:
        message = daily_stats_alert_sensor(context).skip_message
    assert "1 rule file problem(s): broken.yaml: threshold: must be a number, got 'many'" in message
    titles = sorted(p["json"]["title"] for p in webhook.posts)
    assert titles == ["[analytics warning] 1 problem(s) in alert rule files",
                      f"[analytics warning] busy: total_pageviews on shop ({SPIKE_DAY})"]
    assert "broken.yaml: threshold: must be a number" in next(
        p["json"]["text"] for p in webhook.posts if "rule files" in p["json"]["title"])
    assert len(smtp.messages) == 2


def test_old_partitions_from_a_backfill_are_not_alerted(
        warehouse: Warehouse, resources: dict, instance: dg.DagsterInstance, tmp_path: Path,
        smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "busy.yaml").write_text("metric: total_pageviews\ncondition: above\nthreshold: 150\n")
    old_day = NOW.date() - timedelta(days=30)
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": old_day, "total_pageviews": 200}])

    @dg.asset(name="daily_stats", partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
    def stand_in_daily_stats() -> None:
        """Materializes the daily_stats key only."""

    dg.materialize([stand_in_daily_stats], partition_key=old_day.isoformat(), instance=instance)
    with dg.build_sensor_context(
            instance=instance, resources={**resources, "alerting": alerting_resource(rules, smtp, webhook)}) as context:
        assert "(1 older partition(s) not evaluated)" in daily_stats_alert_sensor(context).skip_message
    assert webhook.posts == [] and smtp.messages == []


def test_each_condition_over_the_warehouse_and_the_history_it_writes(
        warehouse: Warehouse, tmp_path: Path, notifier, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    day = date(2024, 3, 29)
    steady_history(warehouse, "shop", day)
    insert_daily_stats(warehouse, [{"website_id": "shop", "date": day, "total_pageviews": 40, "unique_visitors": 10}])
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "rules.yaml").write_text("""
rules:
  - {name: above_fires, metric: total_pageviews, condition: above, threshold: 30}
  - {name: above_quiet, metric: total_pageviews, condition: above, threshold: 50}
  - {name: below_fires, metric: total_pageviews, condition: below, threshold: 50}
  - {name: below_quiet, metric: total_pageviews, condition: below, threshold: 30}
  - {name: drop_fires, metric: unique_visitors, website: all, condition: change_pct, threshold: 50, direction: down}
  - {name: rise_quiet, metric: unique_visitors, website: all, condition: change_pct, threshold: 50, direction: up}
  - {name: anomaly_fires, metric: total_pageviews, website: shop, condition: anomaly, threshold: 3}
  - {name: anomaly_quiet, metric: total_pageviews, website: shop, condition: anomaly, threshold: 3, direction: up}
""")
    rule_set = load_rules(tmp_path / "r")
    assert rule_set.errors == []
    outcome = alert_metrics(warehouse, notifier, rule_set, [day], NOW)
    fired = sorted({a.rule for a in outcome.alerts})
    assert fired == ["above_fires", "anomaly_fires", "below_fires", "drop_fires"]
    assert len(webhook.posts) == 4 and len(smtp.messages) == 4
    drop = next(h for h in recent(warehouse) if h["rule"] == "drop_fires" and h["sent_to"].startswith("webhook"))
    assert (drop["website"], drop["day"], drop["value"], drop["threshold"], drop["severity"]) == (
        "all", day, 10.0, 50.0, "warning")
    assert drop["sent_to"].startswith("webhook:http://127.0.0.1:") and "secret" not in drop["sent_to"]


def test_cooldown_per_destination_and_a_failed_channel_is_retried(
        warehouse: Warehouse, notifier, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    alert = Alert(kind="metric", rule="r", alert_key="metric:r:shop", severity="info", title="t",
                  message="m", website="shop", day=date(2024, 3, 1), value=1.0, threshold=2.0)
    webhook.status = 500
    first = send_alert(warehouse, notifier, alert, ["email", "webhook"], cooldown=timedelta(hours=1), now=NOW)
    assert [d.status for d in first] == ["sent", "failed"]
    assert "answered HTTP 500" in first[1].error
    webhook.status = 200
    second = send_alert(warehouse, notifier, alert, ["email", "webhook"], cooldown=timedelta(hours=1),
                        now=NOW + timedelta(minutes=10))
    assert [d.status for d in second] == ["cooldown", "sent"]
    third = send_alert(warehouse, notifier, alert, ["email", "webhook"], cooldown=timedelta(hours=1),
                       now=NOW + timedelta(minutes=30))
    assert [d.status for d in third] == ["cooldown", "cooldown"]
    fourth = send_alert(warehouse, notifier, alert, ["email", "webhook"], cooldown=timedelta(hours=1),
                        now=NOW + timedelta(minutes=61))
    assert [d.status for d in fourth] == ["sent", "cooldown"]  # the webhook's hour started at +10 min
    assert (len(smtp.messages), len(webhook.posts)) == (2, 1)
    statuses = [(h["sent_to"].split(":")[0], h["status"]) for h in reversed(recent(warehouse))]
    assert statuses == [("email", "sent"), ("webhook", "failed"), ("webhook", "sent"), ("email", "sent")]


def test_an_unconfigured_channel_is_recorded_once_per_cooldown(warehouse: Warehouse) -> None:
    from analytics_pipeline.alerts.channels import Notifier

    alert = Alert(kind="metric", rule="r", alert_key="metric:r:all", severity="info", title="t", message="m")
    first = send_alert(warehouse, Notifier(), alert, ["email", "webhook"], cooldown=timedelta(hours=1), now=NOW)
    assert [(d.destination, d.status) for d in first] == [("email", "unrouted"), ("webhook", "unrouted")]
    assert "ANALYTICS_SMTP_URL is empty" in first[0].error
    again = send_alert(warehouse, Notifier(), alert, ["email", "webhook"], cooldown=timedelta(hours=1), now=NOW)
    assert [d.status for d in again] == ["cooldown", "cooldown"]
    assert len(recent(warehouse)) == 2


def test_notifications_still_go_out_when_the_history_cannot_be_written(
        tmp_path: Path, notifier, smtp: SmtpReceiver, webhook: WebhookReceiver) -> None:
    unmigrated = Warehouse(f"sqlite:///{tmp_path / 'no_tables.db'}", migrate=False)
    alert = Alert(kind="job_failure", rule="job_failed:x", alert_key="run:1", severity="critical",
                  title="Job x failed", message="m")
    deliveries = send_alert(unmigrated, notifier, alert, ["email", "webhook"], cooldown=timedelta(hours=1), now=NOW)
    assert [d.status for d in deliveries] == ["sent", "sent"]
    assert all("not recorded in alert_history: OperationalError" in d.error for d in deliveries)
    assert (len(smtp.messages), len(webhook.posts)) == (1, 1)
