"""Engine creation, SQL file lookup, timestamp binding and migrations for both dialects.

Dialect differences live here and in ``sql/{sqlite,postgresql}/``; everything above this
module talks to :class:`Warehouse` and names SQL files, never dialects.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from analytics_pipeline.settings import SQL_DIR

_ENGINES: dict[str, Engine] = {}
_MIGRATED: set[str] = set()
_LOCK = threading.Lock()

# Execution option that marks a connection as a writer (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "analytics_write"

# SQLite keeps timestamps as fixed-width UTC text so that string order is time order.
SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to psycopg 3 explicitly (SQLAlchemy 2.0 would
    pick psycopg2, 2.1 picks psycopg; say which so both behave the same)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and metadata."""
    return sa.engine.make_url(normalise_url(url)).render_as_string(hide_password=True)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN skips DDL), and use WAL
            # plus a busy timeout so the webserver, daemon and run processes share the file.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writes (Warehouse.begin) take the write lock up front with IMMEDIATE: a deferred
            # transaction that later writes can fail with SQLITE_BUSY without waiting when
            # another writer got in first. Reads (Warehouse.connect / query: sensors, the
            # embedded cache, status) begin deferred, so under WAL they read their snapshot
            # at once instead of queuing behind ingestion's write transactions.
            write = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
    )


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    url = normalise_url(url)
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests drop databases; forked workers must not share)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _MIGRATED.clear()


@cache
def _read_sql(path: Path) -> str:
    return path.read_text()


class Warehouse:
    """The warehouse behind one URL: connections, SQL files, timestamp parameters, schema."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalise_url(url)
        self.engine = get_engine(self.url)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self.dialect = "sqlite" if self.engine.dialect.name == "sqlite" else "postgresql"
        if migrate:
            self.migrate()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def __repr__(self) -> str:
        return f"Warehouse({redact_url(self.url)})"

    # -- SQL files -------------------------------------------------------------------------
    def sql_path(self, name: str) -> Path:
        """``sql/{dialect}/{name}.sql`` when the dialects differ, else ``sql/common/{name}.sql``."""
        for folder in (self.dialect, "common"):
            path = SQL_DIR / folder / f"{name}.sql"
            if path.exists():
                return path
        raise FileNotFoundError(f"no SQL file {name}.sql in sql/{self.dialect} or sql/common")

    def sql_text(self, name: str, **identifiers: str) -> str:
        """The SQL of ``name``; ``{identifier}`` placeholders are filled from a fixed whitelist
        the caller controls (table names), never from user input. Values are always bound."""
        text = _read_sql(self.sql_path(name))
        for key, value in identifiers.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
                raise ValueError(f"refusing identifier {value!r}")
            text = text.replace("{" + key + "}", value)
        return text

    def sql(self, name: str, **identifiers: str) -> sa.TextClause:
        return sa.text(self.sql_text(name, **identifiers))

    # -- connections ----------------------------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back on error."""
        with self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (SQLite: deferred transactions, never waiting on writers)."""
        with self.engine.connect() as conn:
            yield conn

    def run(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> int:
        """Execute one SQL file in its own transaction; the affected row count."""
        with self.begin() as conn:
            return conn.execute(self.sql(name, **identifiers), dict(params or {})).rowcount

    def query(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: str) -> list[dict[str, Any]]:
        """Rows of one SQL file as dicts."""
        with self.connect() as conn:
            result = conn.execute(self.sql(name, **identifiers), dict(params or {}))
            return [dict(row._mapping) for row in result]

    # -- values ---------------------------------------------------------------------------
    def ts(self, value: datetime) -> Any:
        """A UTC timestamp as this dialect binds it (SQLite: fixed-width text)."""
        if value.tzinfo is None:
            raise ValueError("naive datetime: the warehouse is UTC-only, pass an aware value")
        value = value.astimezone(timezone.utc)
        return value.strftime(SQLITE_TS_FORMAT) if self.is_sqlite else value

    def day(self, value: date) -> Any:
        return value.isoformat() if self.is_sqlite else value

    @staticmethod
    def to_datetime(value: Any) -> datetime | None:
        """A timestamp read back from either dialect, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @staticmethod
    def to_date(value: Any) -> date | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            return date.fromisoformat(value[:10])
        return value

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply ``sql/migrations/{dialect}/NNN_*.sql`` not yet recorded, in order. Idempotent
        and safe to call from several processes at once; returns the versions applied."""
        with _LOCK:
            if self.url in _MIGRATED:
                return []
        applied: list[str] = []
        files = sorted((SQL_DIR / "migrations" / self.dialect).glob("*.sql"))
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn.exec_driver_sql("SELECT pg_advisory_lock(727274)")
                conn.commit()
            try:
                conn.exec_driver_sql(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                conn.commit()
                done = {r[0] for r in conn.exec_driver_sql("SELECT version FROM schema_migrations")}
                conn.commit()
                for path in files:
                    version = path.stem
                    if version in done:
                        continue
                    self._apply_script(conn, path.read_text())
                    with conn.begin():
                        conn.execute(
                            sa.text(
                                "INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :t) "
                                "ON CONFLICT (version) DO NOTHING"
                            ),
                            {"v": version, "t": datetime.now(timezone.utc).isoformat()},
                        )
                    applied.append(version)
            finally:
                if self.is_postgres:
                    conn.rollback()
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(727274)")
                    conn.commit()
        with _LOCK:
            _MIGRATED.add(self.url)
        return applied

    def _apply_script(self, conn: Connection, script: str) -> None:
        raw = conn.connection.driver_connection
        if self.is_sqlite:
            # executescript runs every statement; migrations use IF NOT EXISTS so a concurrent
            # second migrator is harmless.
            raw.executescript(script)
        else:
            with raw.transaction():
                raw.execute(script)
        conn.commit()
