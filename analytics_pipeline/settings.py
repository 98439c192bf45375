"""Every environment variable the pipeline reads (SPEC §1), in one place.

Dagster resources take their configuration from :func:`env_or_default`, which hands Dagster an
``EnvVar`` when the variable is set (so the UI shows where a value came from and never its
content) and the documented default otherwise. Plain-Python callers (the CLI, benchmarks) use
the ``*_default`` helpers, which resolve the same rules eagerly.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"


def env_or_default(name: str, default: str) -> dg.EnvVar | str:
    """``EnvVar(name)`` when ``name`` is set in the environment, else ``default``."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


def data_dir() -> Path:
    """``ANALYTICS_DATA_DIR``: root for everything written locally (default ``./data``)."""
    return Path(_env("ANALYTICS_DATA_DIR", "data")).absolute()


def database_url() -> str:
    """``ANALYTICS_DATABASE_URL``: the warehouse; default SQLite file in the data dir."""
    return _env("ANALYTICS_DATABASE_URL", f"sqlite:///{data_dir() / 'warehouse.db'}")


def redis_url() -> str:
    """``ANALYTICS_REDIS_URL``: Redis for warmed cache entries; empty means embedded cache."""
    return _env("ANALYTICS_REDIS_URL", "")


def landing_dir() -> Path:
    """``ANALYTICS_LANDING_DIR``: where event files are dropped."""
    return Path(_env("ANALYTICS_LANDING_DIR", str(data_dir() / "landing"))).absolute()


def reports_dir() -> Path:
    """``ANALYTICS_REPORTS_DIR``: where report files are written."""
    return Path(_env("ANALYTICS_REPORTS_DIR", str(data_dir() / "reports"))).absolute()


def retention_days() -> int:
    """``ANALYTICS_RETENTION_DAYS``: raw events and sessions older than this are deleted."""
    return int(_env("ANALYTICS_RETENTION_DAYS", "90"))


def retention_batch_size() -> int:
    """``ANALYTICS_RETENTION_BATCH_SIZE``: rows per DELETE batch on SQLite (default 1000)."""
    return int(_env("ANALYTICS_RETENTION_BATCH_SIZE", "1000"))


def session_timeout_minutes() -> int:
    """``ANALYTICS_SESSION_TIMEOUT_MINUTES``: inactivity after which a session is closed."""
    return int(_env("ANALYTICS_SESSION_TIMEOUT_MINUTES", "30"))


def start_date() -> date:
    """``ANALYTICS_START_DATE``: the first daily partition (read when definitions load)."""
    return date.fromisoformat(_env("ANALYTICS_START_DATE", "2024-01-01"))


def smtp_url() -> str:
    """``ANALYTICS_SMTP_URL``: ``smtp://host:port`` for report delivery; empty skips delivery."""
    return _env("ANALYTICS_SMTP_URL", "")


def templates_dir() -> Path:
    """``ANALYTICS_TEMPLATES_DIR``: report template files (default ``report_templates/``)."""
    return Path(_env("ANALYTICS_TEMPLATES_DIR", str(REPO_ROOT / "report_templates"))).absolute()


def alert_rules_dir() -> Path:
    """``ANALYTICS_ALERT_RULES_DIR``: metric alert rule files (default ``alert_rules/``)."""
    return Path(_env("ANALYTICS_ALERT_RULES_DIR", str(REPO_ROOT / "alert_rules"))).absolute()


def websites_file() -> Path:
    """``ANALYTICS_WEBSITES_FILE``: one entry per website (``id``, ``name``, ``timezone``); a
    missing file means every website uses the default time zone (default ``websites.yaml``)."""
    return Path(_env("ANALYTICS_WEBSITES_FILE", str(REPO_ROOT / "websites.yaml"))).absolute()


def default_timezone() -> str:
    """``ANALYTICS_DEFAULT_TIMEZONE``: IANA time zone of websites not in the websites file."""
    return _env("ANALYTICS_DEFAULT_TIMEZONE", "UTC")


def metrics_dir() -> Path:
    """``ANALYTICS_METRICS_DIR``: custom metric definition files (default ``metric_definitions/``)."""
    return Path(_env("ANALYTICS_METRICS_DIR", str(REPO_ROOT / "metric_definitions"))).absolute()


def executor() -> str:
    """``ANALYTICS_EXECUTOR``: how a run's steps execute: ``default`` (in-process),
    ``in_process``, ``multiprocess`` or ``celery`` (each step a task on the Celery workers)."""
    return _env("ANALYTICS_EXECUTOR", "default").strip().lower()


def celery_broker_url() -> str:
    """``ANALYTICS_CELERY_BROKER_URL``: the broker of the Celery executor and its workers
    (default ``pyamqp://guest@localhost:5672//``)."""
    return _env("ANALYTICS_CELERY_BROKER_URL", "pyamqp://guest@localhost:5672//")


def rejected_retention_days() -> int:
    """``ANALYTICS_REJECTED_RETENTION_DAYS``: rejected lines are deleted after this many days."""
    return int(_env("ANALYTICS_REJECTED_RETENTION_DAYS", "90"))


def ledger_retention_days() -> int:
    """``ANALYTICS_LEDGER_RETENTION_DAYS``: finished ingestion ledger rows (the content hashes
    that recognise a re-dropped file) are deleted after this many days; never fewer than
    ``ANALYTICS_RETENTION_DAYS``."""
    return int(_env("ANALYTICS_LEDGER_RETENTION_DAYS", "400"))


def alert_history_retention_days() -> int:
    """``ANALYTICS_ALERT_HISTORY_RETENTION_DAYS``: alert history rows are deleted after this many days."""
    return int(_env("ANALYTICS_ALERT_HISTORY_RETENTION_DAYS", "180"))


def processed_retention_days() -> int:
    """``ANALYTICS_PROCESSED_RETENTION_DAYS``: files in ``landing/processed/`` are deleted this
    many days after they were processed."""
    return int(_env("ANALYTICS_PROCESSED_RETENTION_DAYS", "30"))


def max_report_size_mb() -> float:
    """``ANALYTICS_MAX_REPORT_SIZE_MB``: the largest report file generation may write (default 50)."""
    return float(_env("ANALYTICS_MAX_REPORT_SIZE_MB", "50"))


def reports_max_age_days() -> int:
    """``ANALYTICS_REPORTS_MAX_AGE_DAYS``: report files older than this are archived or deleted by
    the report housekeeping job (default 365; 0 keeps every file)."""
    return int(_env("ANALYTICS_REPORTS_MAX_AGE_DAYS", "365"))


def reports_expired_action() -> str:
    """``ANALYTICS_REPORTS_EXPIRED_ACTION``: ``archive`` (move to ``$ANALYTICS_REPORTS_DIR/.archive``,
    the default) or ``delete``: what housekeeping does with report files past their age."""
    return _env("ANALYTICS_REPORTS_EXPIRED_ACTION", "archive")


def disable_auto_sync() -> bool:
    """``DISABLE_AUTO_SYNC``: ``true`` makes every schedule and sensor start stopped (turn them on
    in the UI or with ``dagster schedule start``/``dagster sensor start``)."""
    return _env("DISABLE_AUTO_SYNC", "").strip().lower() in ("1", "true", "yes")
