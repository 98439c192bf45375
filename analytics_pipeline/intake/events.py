"""Request bodies to verdicts and landing lines, as plain functions (no HTTP, no I/O).

Each event gets the ingestion rules of :mod:`analytics_pipeline.ingestion.validate` (the same
functions file ingestion calls, fast path first as there), then the key's website scope. An
accepted event is written as the JSON object it came as, without ``ip``, ``context.ip`` and
``properties.ip`` (never stored); file ingestion reads it back and validates it again.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from analytics_pipeline.ingestion.validate import (
    EVENT_COLUMNS,
    fast_event_row,
    future_limit_text,
    start_floor_text,
    strip_ip,
    validate_event,
)

GZIP_ENCODINGS = ("gzip", "x-gzip")
IDENTITY_ENCODINGS = ("", "identity")
MAX_ECHOED_ID = 128


class BodyProblem(Exception):
    """The request body as a whole is unusable: ``status`` (400, 413, 415) and a code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body without its content encoding; a gzip body inflating past ``max_bytes`` is
    refused (413) without inflating more than ``max_bytes + 1`` bytes of it."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in IDENTITY_ENCODINGS:
        return body
    if encoding not in GZIP_ENCODINGS:
        raise BodyProblem(415, "unsupported_encoding",
                          f"Content-Encoding {encoding[:32]!r} is not supported; send gzip or no encoding")
    parts: list[bytes] = []
    size = 0
    rest = body
    try:
        while rest:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = inflater.decompress(rest, max_bytes + 1 - size)
            size += len(out)
            if size > max_bytes or inflater.unconsumed_tail:
                raise BodyProblem(413, "body_too_large",
                                  f"the decompressed body is larger than {max_bytes} bytes")
            if not inflater.eof:
                raise BodyProblem(400, "invalid_gzip", "the gzip body is truncated")
            parts.append(out)
            rest = inflater.unused_data  # a further gzip member
    except zlib.error as exc:
        raise BodyProblem(400, "invalid_gzip", f"the body is not valid gzip: {exc}") from exc
    return b"".join(parts)


def parse_events(body: bytes, batch: bool, max_events: int) -> list[Any]:
    """The events of a body: one JSON value (single) or a JSON array (batch)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = "the body is not valid UTF-8" if "utf-8" in str(exc).lower() else f"the body is not valid JSON: {exc}"
        raise BodyProblem(400, "invalid_json", message) from exc
    if not batch:
        return [value]
    if not isinstance(value, list):
        raise BodyProblem(400, "invalid_batch", "a batch is a JSON array of events")
    if not value:
        raise BodyProblem(400, "empty_batch", "the batch holds no event")
    if len(value) > max_events:
        raise BodyProblem(413, "batch_too_large",
                          f"a batch holds at most {max_events} events; this one holds {len(value)}")
    return value


def read_events(raw: bytes, content_encoding: str | None, batch: bool, max_bytes: int,
                max_events: int) -> tuple[list[Any], bool]:
    """The events of a request body and whether they need the careful path of
    :func:`check_events` (an escaped NUL somewhere in the body)."""
    body = decode_body(raw, content_encoding, max_bytes)
    return parse_events(body, batch, max_events), b"\\u0000" in body


@dataclass
class Verdicts:
    """What a request's events became: the landing lines and one result per event."""

    lines: bytes = b""
    accepted: int = 0
    rejected: int = 0
    forbidden: int = 0  # rejected for the key's website scope
    results: list[dict[str, Any]] = field(default_factory=list)


def stored_line(obj: dict[str, Any]) -> bytes:
    """The JSON line written for an accepted event: without any IP field (ingestion strips
    ``properties.ip`` and ``properties.context.ip`` too; they are never written here)."""
    if "ip" in obj or "context" in obj:
        obj = strip_ip(obj)
    properties = obj.get("properties")
    if type(properties) is dict and ("ip" in properties or "context" in properties):
        obj = {**obj, "properties": strip_ip(properties)}
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        # An unknown extra field nested too deep to re-encode: keep the fields that are stored.
        return orjson.dumps({k: obj[k] for k in EVENT_COLUMNS if k in obj}, option=orjson.OPT_APPEND_NEWLINE)


def _echo_id(obj: Any) -> str | None:
    event_id = obj.get("event_id") if type(obj) is dict else None
    return event_id if type(event_id) is str and len(event_id) <= MAX_ECHOED_ID else None


def check_events(events: list[Any], now: datetime, allows: Callable[[str], bool],
                 careful: bool = False, start: date | None = None) -> Verdicts:
    """Validate ``events`` as of ``now`` (``start``: ``ANALYTICS_START_DATE``, the first day an
    ``occurred_at`` may fall on) and check each website with ``allows``.

    ``careful``: skip the fast path (the body holds an escaped NUL, whose reason only
    :func:`validate_event` gives)."""
    verdicts = Verdicts()
    results = verdicts.results
    lines: list[bytes] = []
    limit = future_limit_text(now)
    floor = start_floor_text(start)
    allowed_sites: dict[str, bool] = {}
    for index, obj in enumerate(events):
        row = None if careful else fast_event_row(obj, limit, floor=floor)
        if row is None:
            row = validate_event(obj, now, start)
        if type(row) is str:
            results.append({"index": index, "event_id": _echo_id(obj), "status": "rejected", "reason": row})
            verdicts.rejected += 1
            continue
        website_id = row[1]
        allowed = allowed_sites.get(website_id)
        if allowed is None:
            allowed = allowed_sites[website_id] = allows(website_id)
        if not allowed:
            results.append({"index": index, "event_id": row[0], "status": "rejected",
                            "reason": f"this API key may not send events for website {website_id!r}"})
            verdicts.rejected += 1
            verdicts.forbidden += 1
            continue
        lines.append(stored_line(obj))
        results.append({"index": index, "event_id": row[0], "status": "accepted"})
        verdicts.accepted += 1
    verdicts.lines = b"".join(lines)
    return verdicts
