"""Real loopback receivers for alert notifications: an HTTP server collecting webhook POSTs and
an SMTP server (aiosmtpd) collecting e-mails, plus daily_stats rows to evaluate rules on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from analytics_pipeline.alerts.channels import EmailChannel, Notifier, WebhookChannel
from analytics_pipeline.alerts.resources import (
    AlertingResource,
    EmailChannelResource,
    WebhookChannelResource,
)
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.smtp_server import start_smtp_server

LOOPBACK = "127.0.0.1"
ALERT_TO = "oncall@example.com"


@dataclass
class WebhookReceiver:
    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200  # what the receiver answers; set 500 to simulate an outage


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """An HTTP server on 127.0.0.1 (port 0) recording every JSON body POSTed to it."""
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.status == 200:
                receiver.posts.append({"path": self.path, "json": json.loads(body),
                                       "content_type": self.headers.get("Content-Type")})
            self.send_response(receiver.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    receiver.url = f"http://{LOOPBACK}:{server.server_port}/hooks/T000/B000/secret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class SmtpReceiver:
    url: str
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)



@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """An aiosmtpd SMTP server on 127.0.0.1 recording every message it accepts."""
    receiver = SmtpReceiver(url="")

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            receiver.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 Message accepted for delivery"

    controller, port = start_smtp_server(Handler())
    receiver.url = f"smtp://{LOOPBACK}:{port}"
    yield receiver
    controller.stop()


@pytest.fixture
def notifier(smtp: SmtpReceiver, webhook: WebhookReceiver) -> Notifier:
    return Notifier(EmailChannel(smtp.url, "alerts@example.com", [ALERT_TO]), WebhookChannel(webhook.url))


def alerting_resource(rules_dir: Path, smtp: SmtpReceiver, webhook: WebhookReceiver, **overrides: Any) -> AlertingResource:
    return AlertingResource(
        rules_dir=str(rules_dir),
        email=EmailChannelResource(smtp_url=smtp.url, sender="alerts@example.com", recipients=ALERT_TO),
        webhook=WebhookChannelResource(url=webhook.url),
        ui_url="http://dagster.example.com:3000/",
        **overrides,
    )


def insert_daily_stats(warehouse: Warehouse, rows: list[dict[str, Any]]) -> None:
    """daily_stats rows with the given website_id, date and numbers; the rest filled in."""
    sql = (
        "INSERT INTO daily_stats (website_id, date, total_pageviews, total_custom_events, "
        "unique_visitors, unique_sessions, top_pages, top_referrers, events_by_type, "
        "sessions_started, bounce_rate, avg_session_duration_seconds, computed_at) VALUES "
        "(:website_id, :date, :total_pageviews, :total_custom_events, :unique_visitors, "
        ":unique_sessions, :top_pages, :top_referrers, :events_by_type, :sessions_started, "
        ":bounce_rate, :avg_session_duration_seconds, :computed_at)"
    )
    if warehouse.is_postgres:
        sql = sql.replace(":top_pages, :top_referrers, :events_by_type",
                          "CAST(:top_pages AS jsonb), CAST(:top_referrers AS jsonb), CAST(:events_by_type AS jsonb)")

    now = datetime.now(timezone.utc)
    with warehouse.begin() as conn:
        for row in rows:
            pageviews = row.get("total_pageviews", 100)
            full = {
                "total_pageviews": pageviews, "total_custom_events": 10, "unique_visitors": 50,
                "unique_sessions": 60, "sessions_started": 60, "bounce_rate": 0.4,
                "avg_session_duration_seconds": 120.0, "top_pages": "[]", "top_referrers": "[]",
                "events_by_type": json.dumps({"pageview": pageviews, "signup": row.get("signups", 3)}),
                **{k: v for k, v in row.items() if k != "signups"},
            }
            full["date"] = warehouse.day(full["date"] if isinstance(full["date"], date) else date.fromisoformat(full["date"]))
            full["computed_at"] = warehouse.ts(now)
            conn.execute(sa.text(sql), full)
