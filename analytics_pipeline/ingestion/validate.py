"""SPEC §2 validation of one event, as pure functions (no I/O, no Dagster).

``validate_event`` returns either an :data:`EventRow` ready to load or a ``str`` reason that a
person can act on. The rules are exactly SPEC §2; anything the SPEC does not name is ignored.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

MAX_ID = {"event_id": 128, "website_id": 64, "session_id": 128, "visitor_id": 128}
MAX_EVENT_NAME = 128
MAX_URL_PATH = 2048
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_RAW_BYTES = 64 * 1024
# orjson serialises at most this many nested levels (JSONEncodeError beyond).
MAX_PROPERTIES_DEPTH = 254
FUTURE_TOLERANCE = timedelta(minutes=5)
EVENT_TYPES = ("pageview", "custom")
TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

# Column order of an accepted row, shared by the loaders and the SQL files.
EVENT_COLUMNS = (
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
EventRow = tuple[str, str, str, str, str, "str | None", "str | None", "str | None", str, "str | None"]

_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# Full (8 groups) or compressed ("::") IPv6; never matches a clock time like 10:00:00.
_IPV6 = re.compile(
    r"(?<![0-9A-Fa-f:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?)"
    r"(?![0-9A-Fa-f:])"
)


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# Referrers repeat heavily (a few search engines and social sites), and urlsplit costs more than
# the rest of a line's validation: remember recent answers.
_REFERRER_CACHE: dict[str, str | None] = {}
_REFERRER_CACHE_SIZE = 4096


def normalise_referrer(value: str | None) -> str | None:
    """SPEC §2: a URL with a host keeps the host, lower-cased, without a leading ``www.``;
    anything else is the trimmed, lower-cased string; empty is null (direct)."""
    if value is None:
        return None
    try:
        return _REFERRER_CACHE[value]
    except (KeyError, TypeError):
        pass
    normalised = _normalise_referrer(value)
    if type(value) is str:
        if len(_REFERRER_CACHE) >= _REFERRER_CACHE_SIZE:
            _REFERRER_CACHE.clear()
        _REFERRER_CACHE[value] = normalised
    return normalised


def _normalise_referrer(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if "//" in text:
        try:
            host = urlsplit(text).hostname
        except ValueError:
            host = None
        if host:
            host = host.lower()
            return host[4:] if host.startswith("www.") and len(host) > 4 else host
    return text.lower()


def parse_timestamp(value: Any, now: datetime, start: date | None = None) -> datetime | str:
    """An aware UTC datetime, or the reason the value is not an acceptable ``occurred_at``.
    ``start``: the first day a partition can hold (``ANALYTICS_START_DATE``); earlier is refused."""
    if not isinstance(value, str):
        return f"occurred_at must be an ISO 8601 string, got {type_name(value)}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"occurred_at is not a valid ISO 8601 timestamp: {value[:64]!r}"
    if parsed.tzinfo is None:
        return f"occurred_at has no UTC offset (add Z or +hh:mm): {value[:64]!r}"
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError:
        # 0001-01-01T00:00+05:00 or 9999-12-31T23:59-12:00: no UTC year 1..9999 holds it.
        return f"occurred_at is outside the years 1-9999 in UTC: {value[:64]!r}"
    if parsed > now + FUTURE_TOLERANCE:
        return f"occurred_at is more than 5 minutes in the future: {value[:64]!r}"
    if start is not None and parsed.date() < start:
        return (f"occurred_at is before ANALYTICS_START_DATE {start.isoformat()} "
                f"(no partition can hold it): {value[:64]!r}")
    return parsed


def timestamp_text(value: datetime) -> str:
    """A UTC datetime as stored: ``TS_FORMAT`` (``isoformat`` is twice as fast as ``strftime``
    and the same text for four-digit years; glibc's ``%Y`` does not pad smaller ones)."""
    if value.year >= 1000:
        return value.isoformat(" ", "microseconds")[:26]
    return value.strftime(TS_FORMAT)


def future_limit_text(now: datetime) -> str:
    """The latest acceptable ``occurred_at`` as of ``now``, as stored text: fixed-width UTC text
    compares in time order, so ``text > limit`` is the SPEC's "more than 5 minutes ahead"."""
    return timestamp_text((now + FUTURE_TOLERANCE).astimezone(timezone.utc))


def _required_string(obj: dict[str, Any], field: str, limit: int) -> str | tuple[None, str]:
    value = obj.get(field)
    if value is None:
        return None, f"{field} is required"
    if not isinstance(value, str):
        return None, f"{field} must be a string, got {type_name(value)}"
    if not value:
        return None, f"{field} must not be empty"
    if len(value) > limit:
        return None, f"{field} is longer than {limit} characters ({len(value)})"
    if "\x00" in value:
        return None, f"{field} contains a NUL character (\\u0000), which text columns cannot store"
    return value


def strip_ip(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without ``ip`` and ``context.ip`` (SPEC §2: never stored)."""
    if "ip" in obj:
        obj = {k: v for k, v in obj.items() if k != "ip"}
    context = obj.get("context")
    if isinstance(context, dict) and "ip" in context:
        obj = {**obj, "context": {k: v for k, v in context.items() if k != "ip"}}
    return obj


def validate_event(obj: Any, now: datetime, start: date | None = None) -> EventRow | str:
    """One parsed line -> the row to load, or the reason it is rejected. ``start``: the first
    acceptable day of ``occurred_at`` (``ANALYTICS_START_DATE``; ``None``: no lower bound)."""
    if not isinstance(obj, dict):
        return f"line is not a JSON object (got {type_name(obj)})"
    ids = []
    for field in ("event_id", "website_id", "session_id", "visitor_id"):
        value = _required_string(obj, field, MAX_ID[field])
        if isinstance(value, tuple):
            return value[1]
        ids.append(value)

    event_type = obj.get("event_type")
    if event_type not in EVENT_TYPES:
        if event_type is None:
            return "event_type is required"
        return f"event_type must be 'pageview' or 'custom', got {str(event_type)[:64]!r}"

    event_name = None
    if event_type == "custom":
        name = _required_string(obj, "event_name", MAX_EVENT_NAME)
        if isinstance(name, tuple):
            return name[1] + " for custom events"
        event_name = name

    url_path = obj.get("url_path")
    if url_path is None:
        if event_type == "pageview":
            return "url_path is required for pageview events"
    elif not isinstance(url_path, str):
        return f"url_path must be a string, got {type_name(url_path)}"
    elif not url_path.startswith("/"):
        return f"url_path must start with '/': {url_path[:64]!r}"
    elif len(url_path) > MAX_URL_PATH:
        return f"url_path is longer than {MAX_URL_PATH} characters ({len(url_path)})"
    elif "\x00" in url_path:
        return "url_path contains a NUL character (\\u0000), which text columns cannot store"

    referrer = obj.get("referrer")
    if referrer is not None and not isinstance(referrer, str):
        return f"referrer must be a string or null, got {type_name(referrer)}"
    if referrer is not None and "\x00" in referrer:
        return "referrer contains a NUL character (\\u0000), which text columns cannot store"

    occurred = parse_timestamp(obj.get("occurred_at"), now, start) if "occurred_at" in obj else "occurred_at is required"
    if isinstance(occurred, str):
        return occurred

    properties = obj.get("properties")
    properties_json = None
    if properties is not None:
        if not isinstance(properties, dict):
            return f"properties must be a JSON object, got {type_name(properties)}"
        properties = strip_ip(properties)
        try:
            encoded = orjson.dumps(properties)
        except orjson.JSONEncodeError:
            return f"properties are nested deeper than {MAX_PROPERTIES_DEPTH} levels"
        if len(encoded) > MAX_PROPERTIES_BYTES:
            return f"properties are {len(encoded)} bytes serialised, the limit is {MAX_PROPERTIES_BYTES}"
        if _NUL_ESCAPE.search(encoded):
            return "properties contain a NUL character (\\u0000), which JSON columns cannot store"
        properties_json = encoded.decode()

    return (
        ids[0],
        ids[1],
        ids[2],
        ids[3],
        event_type,
        event_name,
        url_path,
        normalise_referrer(referrer),
        timestamp_text(occurred),
        properties_json,
    )


# An escaped NUL (\u0000) not itself preceded by an escaping backslash.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_DIGITS = frozenset("0123456789")


def start_floor_text(start: date | None) -> str:
    """The earliest acceptable ``occurred_at`` as stored text (``""``: no lower bound)."""
    return "" if start is None else start.isoformat() + " 00:00:00.000000"


# "YYYY-MM-DDTHH:MM" -> "YYYY-MM-DD HH:MM" when valid, "" when not: events of a file share few
# minutes, so the calendar is checked once per minute seen, not once per line.
_TS_HEADS: dict[str, str] = {}
_TS_HEADS_SIZE = 8192
_SECONDS = frozenset(f"{second:02d}" for second in range(60))


def _timestamp_head(head: str) -> str:
    if (len(head) != 16 or not head.isascii() or head[0] == "0" or head[4] != "-" or head[7] != "-"
            or head[10] != "T" or head[13] != ":"
            or not _DIGITS.issuperset(head[:4] + head[5:7] + head[8:10] + head[11:13] + head[14:16])):
        return ""
    try:
        datetime(int(head[:4]), int(head[5:7]), int(head[8:10]), int(head[11:13]), int(head[14:16]))
    except ValueError:
        return ""
    return head[:10] + " " + head[11:16]


def _fast_timestamp_text(value: Any, limit: str, floor: str = "") -> str | None:
    """The stored text of the usual ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+00:00)`` form when it is
    valid and not in the future, by slicing (no datetime arithmetic); ``None`` for anything
    else, which then goes the general way."""
    if type(value) is not str:
        return None
    key = value[:16]
    head = _TS_HEADS.get(key)
    if head is None:
        if len(_TS_HEADS) >= _TS_HEADS_SIZE:
            _TS_HEADS.clear()
        head = _TS_HEADS[key] = _timestamp_head(key)
    if not head:
        return None
    rest = value[16:]
    if rest[-1:] == "Z":
        body = rest[:-1]
    elif rest[-6:] == "+00:00":
        body = rest[:-6]
    else:
        return None
    # body: ":SS" or ":SS.f" with 1 to 6 digits
    if body[:1] != ":" or body[1:3] not in _SECONDS:
        return None
    size = len(body)
    if size == 3:
        fraction = "000000"
    elif 5 <= size <= 10 and body[3] == "." and _DIGITS.issuperset(body[4:]):
        fraction = body[4:].ljust(6, "0")
    else:
        return None
    text = head + body[:3] + "." + fraction
    return None if text > limit or text < floor else text


def fast_event_row(obj: Any, limit: str, floor: str = "") -> EventRow | None:
    """:func:`validate_event`'s row for the common shape of a valid event, or ``None`` whenever
    anything is unusual (then :func:`validate_event` decides, with its reason). It accepts a
    subset of what :func:`validate_event` accepts and returns the same row for it; ``limit`` is
    :func:`future_limit_text` of the same ``now`` and ``floor`` :func:`start_floor_text` of the
    same ``start``. Proven equal to :func:`validate_event` by a differential property test."""
    if type(obj) is not dict:
        return None
    get = obj.get
    event_id = get("event_id")
    website_id = get("website_id")
    session_id = get("session_id")
    visitor_id = get("visitor_id")
    if (type(event_id) is not str or not 0 < len(event_id) <= 128
            or type(website_id) is not str or not 0 < len(website_id) <= 64
            or type(session_id) is not str or not 0 < len(session_id) <= 128
            or type(visitor_id) is not str or not 0 < len(visitor_id) <= 128
            or "\x00" in event_id or "\x00" in website_id or "\x00" in session_id or "\x00" in visitor_id):
        return None
    event_type = get("event_type")
    url_path = get("url_path")
    if event_type == "pageview":
        event_name = None
        if type(url_path) is not str:
            return None
    elif event_type == "custom":
        event_name = get("event_name")
        if type(event_name) is not str or not 0 < len(event_name) <= MAX_EVENT_NAME or "\x00" in event_name:
            return None
        if url_path is not None and type(url_path) is not str:
            return None
    else:
        return None
    if url_path is not None and (not url_path.startswith("/") or len(url_path) > MAX_URL_PATH
                                 or "\x00" in url_path):
        return None
    referrer = get("referrer")
    if referrer is not None:
        if type(referrer) is not str or "\x00" in referrer:
            return None
        referrer = normalise_referrer(referrer)
    occurred = _fast_timestamp_text(get("occurred_at"), limit, floor)
    if occurred is None:
        return None
    properties = get("properties")
    if properties is not None and type(properties) is not dict:
        return None
    return _fast_row(event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
                     occurred, properties)


def _fast_row(event_id: str, website_id: str, session_id: str, visitor_id: str, event_type: str,
              event_name: str | None, url_path: str | None, referrer: str | None, occurred: str,
              properties: dict[str, Any] | None) -> EventRow | None:
    """The fast paths' row: ``properties`` as stored JSON (IP fields removed; ``None`` when it
    must go the general way)."""
    if properties is not None:
        if "ip" in properties or "context" in properties:
            properties = strip_ip(properties)
        try:
            encoded = orjson.dumps(properties)
        except orjson.JSONEncodeError:
            return None
        if len(encoded) > MAX_PROPERTIES_BYTES or b"\\u0000" in encoded:
            return None
        properties = encoded.decode()
    return (event_id, website_id, session_id, visitor_id, event_type, event_name, url_path, referrer,
            occurred, properties)


def redact_raw(raw: str) -> str:
    """A rejected line as stored: IP fields removed when it is a JSON object, IP-looking text
    masked otherwise, cut at 64 KiB."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        stripped = strip_ip(obj)
        if stripped is not obj:
            try:
                raw = orjson.dumps(stripped).decode()
            except orjson.JSONEncodeError:
                pass  # nested too deep to re-encode: the IP masking below still applies
    raw = _IPV6.sub("[ip]", _IPV4.sub("[ip]", raw)).replace("\x00", "\ufffd")
    encoded = raw.encode("utf-8", "replace")
    if len(encoded) > MAX_RAW_BYTES:
        raw = encoded[:MAX_RAW_BYTES].decode("utf-8", "ignore")
    return raw
