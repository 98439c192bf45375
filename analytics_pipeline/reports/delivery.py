"""E-mail delivery of report files over SMTP (``smtp://host:port``, ``smtps://`` for TLS,
optional ``user:password@``, optional ``?from=sender@example.com``)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from analytics_pipeline.reports.generate import CONTENT_TYPES

DEFAULT_SENDER = "analytics-pipeline@localhost"


class DeliveryError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    use_ssl: bool
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def parse(cls, url: str) -> "SmtpTarget":
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ValueError(f"expected smtp://host:port or smtps://host:port, got {url!r}")
        sender = parse_qs(parsed.query).get("from", [DEFAULT_SENDER])[0]
        return cls(
            host=parsed.hostname,
            port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
            use_ssl=parsed.scheme == "smtps",
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            sender=sender,
        )

    @property
    def display(self) -> str:
        return f"{'smtps' if self.use_ssl else 'smtp'}://{self.host}:{self.port}"


def build_message(sender: str, recipients: Sequence[str], subject: str, body: str,
                  attachments: Sequence[Path]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    for path in attachments:
        maintype, subtype = CONTENT_TYPES[path.suffix.lstrip(".")].split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message


def send_report(url: str, recipients: Sequence[str], subject: str, body: str, attachments: Sequence[Path],
                *, timeout: float = 30.0) -> str:
    """Send one message with the files attached; returns the message id. Raises
    :class:`DeliveryError` with the server's answer on failure."""
    target = SmtpTarget.parse(url)
    message = build_message(target.sender, recipients, subject, body, attachments)
    client_class = smtplib.SMTP_SSL if target.use_ssl else smtplib.SMTP
    try:
        with client_class(target.host, target.port, timeout=timeout) as client:
            if target.username:
                client.login(target.username, target.password or "")
            refused = client.send_message(message, from_addr=target.sender, to_addrs=list(recipients))
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"delivery to {target.display} failed: {exc}") from exc
    if refused:
        raise DeliveryError(f"{target.display} refused recipients: {refused}")
    return message.get("Message-ID", "") or ""
