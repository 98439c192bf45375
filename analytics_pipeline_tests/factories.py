"""Small builders of SPEC §2 events and landing files, for tests in any stage.

    from analytics_pipeline_tests.factories import event, custom_event, write_jsonl, write_csv

    write_jsonl(landing_dir / "day1.jsonl", [event(), event(url_path="/pricing"), "not json"])
    result = ingest_landing(warehouse, landing_dir, now=lambda: NOW)

Every builder returns a plain ``dict`` that passes validation as of :data:`NOW`; override any
field with keyword arguments, and pass ``field=DROP`` to leave a field out. Event ids are unique
within a test run unless given.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

# The clock tests ingest at (pass ``now=lambda: NOW`` to ingest_landing); builders' events
# happen the day before, so the 5-minutes-in-the-future rule never trips by accident.
NOW = datetime(2024, 3, 2, 12, 0, tzinfo=timezone.utc)
DEFAULT_OCCURRED_AT = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)

# Every SPEC §2 field, in the order CSV files are written.
FIELDS = (
    "event_id",
    "website_id",
    "session_id",
    "visitor_id",
    "event_type",
    "event_name",
    "url_path",
    "referrer",
    "occurred_at",
    "properties",
)


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Any = _Drop()
"""Pass ``field=DROP`` to leave that field out of the event."""

_ids = itertools.count(1)


def iso(moment: datetime) -> str:
    """``2024-03-01T10:00:00Z`` form of an aware datetime (UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def event(**overrides: Any) -> dict[str, Any]:
    """A valid pageview. ``occurred_at`` may be given as an aware datetime or a string;
    ``minutes=n`` shifts the default time by n minutes (handy for sessions)."""
    minutes = overrides.pop("minutes", 0)
    n = next(_ids)
    base: dict[str, Any] = {
        "event_id": f"evt-{n:06d}",
        "website_id": "site-a",
        "session_id": "sess-1",
        "visitor_id": "visitor-1",
        "event_type": "pageview",
        "url_path": "/",
        "referrer": None,
        "occurred_at": DEFAULT_OCCURRED_AT + timedelta(minutes=minutes),
    }
    base.update(overrides)
    if isinstance(base.get("occurred_at"), datetime):
        base["occurred_at"] = iso(base["occurred_at"])
    return {k: v for k, v in base.items() if v is not DROP}


def custom_event(name: str = "signup", **overrides: Any) -> dict[str, Any]:
    """A valid custom event named ``name`` (no url_path unless given; ``event_name=`` in
    ``overrides`` wins over ``name``)."""
    overrides.setdefault("url_path", DROP)
    overrides.setdefault("event_name", name)
    overrides.setdefault("event_type", "custom")
    return event(**overrides)


def events(count: int, **overrides: Any) -> list[dict[str, Any]]:
    """``count`` pageviews one minute apart (same session unless overridden)."""
    return [event(minutes=i, **overrides) for i in range(count)]


def jsonl_bytes(items: Iterable[Mapping[str, Any] | str | bytes]) -> bytes:
    """One line per item: dicts are JSON-encoded, ``str``/``bytes`` are written as they are
    (so broken lines and blank lines are easy to write)."""
    out = io.BytesIO()
    for item in items:
        if isinstance(item, bytes):
            out.write(item)
        elif isinstance(item, str):
            out.write(item.encode("utf-8"))
        else:
            out.write(orjson.dumps(item))
        out.write(b"\n")
    return out.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def write_jsonl(path: Path, items: Iterable[Mapping[str, Any] | str | bytes]) -> Path:
    """Write a JSONL file (gzip-compressed when ``path`` ends in ``.gz``); see :func:`jsonl_bytes`."""
    return _write(Path(path), jsonl_bytes(items))


def csv_bytes(rows: Iterable[Mapping[str, Any] | Sequence[Any]], header: Sequence[str] = FIELDS) -> bytes:
    """A CSV file: ``header``, then one record per row. Dict rows follow the header (a missing
    or ``None`` value is an empty cell; ``properties`` given as a dict is JSON-encoded); list
    rows are written as they are (for wrong field counts)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        if isinstance(row, Mapping):
            cells = []
            for name in header:
                value = row.get(name)
                if isinstance(value, (dict, list)):
                    value = orjson.dumps(value).decode()
                cells.append("" if value is None else value)
            writer.writerow(cells)
        else:
            writer.writerow(row)
    return out.getvalue().encode("utf-8")


def write_csv(path: Path, rows: Iterable[Mapping[str, Any] | Sequence[Any]], header: Sequence[str] = FIELDS) -> Path:
    """Write a CSV file (gzip-compressed when ``path`` ends in ``.gz``); see :func:`csv_bytes`."""
    return _write(Path(path), csv_bytes(rows, header))
