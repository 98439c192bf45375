"""The ``smtp`` resource: report delivery by e-mail (``ANALYTICS_SMTP_URL``; empty disables it)."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from analytics_pipeline import settings
from analytics_pipeline.reports.delivery import SmtpTarget, send_report


class SmtpResource(dg.ConfigurableResource):
    """SMTP server for report e-mails: ``smtp://host:port`` (``smtps://`` for TLS, optional
    ``user:password@`` and ``?from=sender@example.com``). Empty: delivery is skipped."""

    url: str = ""
    timeout_seconds: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def display(self) -> str:
        """Host and port only (never credentials), for metadata."""
        return SmtpTarget.parse(self.url).display if self.url else "(not configured)"

    def send(self, recipients: Sequence[str], subject: str, body: str, attachments: Sequence[Path]) -> str:
        """Send one message; raises ``DeliveryError`` on any failure."""
        return send_report(self.url, recipients, subject, body, attachments, timeout=self.timeout_seconds)


def default_smtp() -> SmtpResource:
    return SmtpResource(url=settings.env_or_default("ANALYTICS_SMTP_URL", ""))


class ReportPolicy(dg.ConfigurableResource):
    """Limits of report files: the largest file generation may write, and how long files are kept."""

    max_report_size_mb: float = 50.0
    max_age_days: int = 365
    expired_action: str = "archive"

    @property
    def max_bytes(self) -> int:
        return int(self.max_report_size_mb * 1_000_000)


def default_report_policy() -> ReportPolicy:
    return ReportPolicy(max_report_size_mb=settings.max_report_size_mb(),
                        max_age_days=settings.reports_max_age_days(),
                        expired_action=settings.reports_expired_action())
