"""Dagster resources of alerting: the two channels and the alerting settings around them.

Configured from the environment with documented defaults (see ``docs/operations.md``):
``ANALYTICS_SMTP_URL``, ``ANALYTICS_ALERT_EMAIL_FROM``, ``ANALYTICS_ALERT_EMAIL_TO``,
``ANALYTICS_ALERT_WEBHOOK_URL``, ``ANALYTICS_UI_URL``, ``ANALYTICS_ALERT_RULES_DIR``,
``ANALYTICS_WAREHOUSE_MAX_BYTES``, ``ANALYTICS_AGGREGATION_MAX_LAG_HOURS``,
``ANALYTICS_HEALTH_ALERT_COOLDOWN``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.alerts.channels import EmailChannel, Notifier, WebhookChannel
from analytics_pipeline.alerts.checks import parse_size
from analytics_pipeline.alerts.rules import RuleSet, load_rules, parse_duration

OWNER_TAG = "analytics/owner"


class EmailChannelResource(dg.ConfigurableResource):
    """E-mail over SMTP. Empty ``smtp_url`` or ``recipients``: e-mail alerts are skipped (and
    recorded as unrouted in alert_history)."""

    smtp_url: str = ""
    sender: str = "analytics-pipeline@localhost"
    recipients: str = ""  # comma-separated default recipients

    def get(self) -> EmailChannel:
        return EmailChannel(self.smtp_url, self.sender, self.recipients.split(","))


class WebhookChannelResource(dg.ConfigurableResource):
    """Generic JSON webhook (Slack / Teams incoming webhook URL, or any HTTP receiver)."""

    url: str = ""
    timeout_seconds: float = 15.0

    def get(self) -> WebhookChannel:
        return WebhookChannel(self.url, timeout=self.timeout_seconds)


class AlertingResource(dg.ConfigurableResource):
    """Where rules live, how alerts are sent, and the health thresholds."""

    rules_dir: str
    email: EmailChannelResource
    webhook: WebhookChannelResource
    ui_url: str = "http://localhost:3000"
    owner_tag: str = OWNER_TAG
    max_aggregation_lag_hours: str = "36"
    warehouse_max_bytes: str = "10GB"
    health_cooldown: str = "6h"

    def notifier(self) -> Notifier:
        return Notifier(self.email.get(), self.webhook.get())

    def rule_set(self) -> RuleSet:
        """Rules and routes, re-read on every call so edits apply at the next evaluation."""
        return load_rules(Path(self.rules_dir))

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}"

    @property
    def max_lag_hours(self) -> float:
        return float(self.max_aggregation_lag_hours)

    @property
    def max_bytes(self) -> int:
        return parse_size(self.warehouse_max_bytes)

    @property
    def health_cooldown_delta(self) -> timedelta:
        return parse_duration(self.health_cooldown)


def default_alerting() -> AlertingResource:
    """The alerting resource of the code location, from the environment."""
    env = settings.env_or_default
    return AlertingResource(
        rules_dir=env("ANALYTICS_ALERT_RULES_DIR", str(settings.alert_rules_dir())),
        email=EmailChannelResource(
            smtp_url=env("ANALYTICS_SMTP_URL", ""),
            sender=env("ANALYTICS_ALERT_EMAIL_FROM", "analytics-pipeline@localhost"),
            recipients=env("ANALYTICS_ALERT_EMAIL_TO", ""),
        ),
        webhook=WebhookChannelResource(url=env("ANALYTICS_ALERT_WEBHOOK_URL", "")),
        ui_url=env("ANALYTICS_UI_URL", "http://localhost:3000"),
        max_aggregation_lag_hours=env("ANALYTICS_AGGREGATION_MAX_LAG_HOURS", "36"),
        warehouse_max_bytes=env("ANALYTICS_WAREHOUSE_MAX_BYTES", "10GB"),
        health_cooldown=env("ANALYTICS_HEALTH_ALERT_COOLDOWN", "6h"),
    )
