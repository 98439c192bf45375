"""Notification channels: e-mail over SMTP and a generic JSON webhook. Plain classes.

The webhook body carries ``text`` (what Slack and Microsoft Teams incoming webhooks display)
plus ``title``, ``severity``, ``fields`` and ``link`` for receivers that want structure.

A channel *target* names where one notification goes: ``email`` / ``webhook`` (the configured
default recipients / URL) or ``email:a@x.org,b@x.org`` / ``webhook:https://...``. The
:class:`Notifier` resolves targets into sends; each distinct destination gets one message.
"""

from __future__ import annotations

import email.policy
import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from analytics_pipeline.safe_text import slack_text, visible


class ChannelError(Exception):
    """A notification could not be delivered (server refused, unreachable, not configured)."""


class NotConfigured(ChannelError):
    """The target needs a setting that is empty (no SMTP URL, no recipients, no webhook URL)."""


@dataclass(frozen=True)
class Notification:
    title: str
    text: str
    severity: str = "warning"
    link: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"[analytics {self.severity}] {self.title}"

    def plain_text(self) -> str:
        """The message as plain text. Titles and fields may hold event text (website ids, event
        names): their control characters are shown as symbols so that no value can add lines
        or reorder what follows; the message's own line breaks and tabs stay."""
        lines = [visible(self.title), "", visible(self.text, keep="\n\t")]
        if self.fields:
            lines.append("")
            lines += [f"{visible(str(key))}: {visible(str(value))}" for key, value in self.fields.items()]
        if self.link:
            lines += ["", f"Open in Dagster: {visible(self.link)}"]
        return "\n".join(lines) + "\n"


class EmailChannel:
    """Sends over ``smtp://[user:password@]host:port`` (``?starttls=true`` to upgrade) or
    ``smtps://`` (TLS from the start)."""

    def __init__(self, smtp_url: str, sender: str, recipients: list[str] | tuple[str, ...] = (),
                 timeout: float = 15.0) -> None:
        self.smtp_url = smtp_url.strip()
        self.sender = sender
        self.recipients = tuple(r.strip() for r in recipients if r.strip())
        self.timeout = timeout

    def message(self, notification: Notification, to: tuple[str, ...]) -> EmailMessage:
        """The e-mail for ``notification``. The subject shows control characters as symbols (a
        line break in an event name must never start a header of its own)."""
        # Lines up to 200 characters: the default of 78 folds a subject starting with "[" right
        # after "Subject:", which some clients show with a leading blank.
        message = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=200))
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = visible(notification.subject)
        message.set_content(notification.plain_text())
        return message

    def send(self, notification: Notification, recipients: tuple[str, ...] | None = None) -> None:
        to = recipients or self.recipients
        if not self.smtp_url:
            raise NotConfigured("e-mail is not configured (ANALYTICS_SMTP_URL is empty)")
        if not to:
            raise NotConfigured("e-mail has no recipients (ANALYTICS_ALERT_EMAIL_TO is empty)")
        url = urlsplit(self.smtp_url)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise NotConfigured(f"SMTP URL must look like smtp://host:port, got scheme {url.scheme!r}")
        message = self.message(notification, to)
        starttls = parse_qs(url.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        try:
            if url.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=self.timeout,
                                                         context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(url.hostname, url.port or 25, timeout=self.timeout)
            with client:
                if starttls:
                    client.starttls(context=ssl.create_default_context())
                if url.username:
                    client.login(unquote(url.username), unquote(url.password or ""))
                client.send_message(message, from_addr=self.sender, to_addrs=list(to))
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP {url.hostname}:{url.port}: {exc}") from exc


class WebhookChannel:
    """POSTs a JSON body to an incoming-webhook URL (Slack, Teams, or any receiver)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url.strip()
        self.timeout = timeout

    @staticmethod
    def payload(notification: Notification) -> dict[str, object]:
        """The JSON body. ``text`` is what chat services display: ``&``, ``<``, ``>`` escaped as
        they require and control characters shown as symbols, so event text never becomes a
        link, a mention or extra lines; every other field carries the values verbatim."""
        text = f"*{slack_text(visible(notification.subject))}*\n{slack_text(visible(notification.text, keep=chr(10)))}"
        if notification.fields:
            text += "\n" + "\n".join(f"{slack_text(visible(str(k)))}: {slack_text(visible(str(v)))}"
                                      for k, v in notification.fields.items())
        if notification.link:
            text += f"\nOpen in Dagster: {notification.link}"
        return {
            "text": text,
            "title": notification.subject,
            "summary": notification.title,
            "severity": notification.severity,
            "fields": notification.fields,
            "link": notification.link,
        }

    def send(self, notification: Notification, url: str | None = None) -> None:
        target = (url or self.url).strip()
        if not target:
            raise NotConfigured("the webhook is not configured (ANALYTICS_ALERT_WEBHOOK_URL is empty)")
        body = json.dumps(self.payload(notification)).encode()
        request = urllib.request.Request(target, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "analytics-pipeline-alerts"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"webhook {redact_webhook(target)} answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise ChannelError(f"webhook {redact_webhook(target)}: {exc}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"webhook {redact_webhook(target)} answered HTTP {status}")


def redact_webhook(url: str) -> str:
    """Incoming-webhook URLs carry their secret in the path: keep the host and a short digest."""
    parts = urlsplit(url)
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    return f"{parts.scheme}://{parts.netloc}/...#{digest}"


@dataclass(frozen=True)
class Destination:
    """One resolved target: a label for the history, and how to send to it."""

    label: str
    kind: str
    detail: tuple[str, ...] | str | None


class Notifier:
    """Resolves channel targets to destinations and sends one notification to each."""

    def __init__(self, email: EmailChannel | None = None, webhook: WebhookChannel | None = None) -> None:
        self.email = email or EmailChannel("", "analytics-pipeline@localhost")
        self.webhook = webhook or WebhookChannel("")

    def resolve(self, targets: tuple[str, ...] | list[str]) -> list[Destination]:
        """Distinct destinations of ``targets``, in order (``email`` twice is one e-mail)."""
        out: dict[str, Destination] = {}
        for target in targets:
            kind, _, detail = target.partition(":")
            if kind == "email":
                recipients = tuple(a.strip() for a in detail.split(",") if a.strip()) if detail else self.email.recipients
                label = "email:" + ",".join(recipients) if recipients else "email"
                out.setdefault(label, Destination(label, "email", recipients))
            elif kind == "webhook":
                url = detail or self.webhook.url
                label = "webhook:" + redact_webhook(url) if url else "webhook"
                out.setdefault(label, Destination(label, "webhook", url or None))
            else:
                raise ValueError(f"unknown channel target {target!r}")
        return list(out.values())

    def send(self, destination: Destination, notification: Notification) -> None:
        """Deliver to one destination; :class:`ChannelError` when that fails."""
        if destination.kind == "email":
            self.email.send(notification, destination.detail or None)  # type: ignore[arg-type]
        else:
            self.webhook.send(notification, destination.detail or None)  # type: ignore[arg-type]
