"""SPEC §2 rules on one event, as pure functions: no database, no files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from analytics_pipeline.ingestion.validate import (
    EVENT_COLUMNS,
    normalise_referrer,
    redact_raw,
    validate_event,
)
from analytics_pipeline_tests.factories import DROP, NOW, custom_event, event


def accepted(obj: Any, now: datetime = NOW) -> dict[str, Any]:
    result = validate_event(obj, now)
    assert not isinstance(result, str), f"rejected: {result}"
    return dict(zip(EVENT_COLUMNS, result))


def rejected(obj: Any, now: datetime = NOW) -> str:
    result = validate_event(obj, now)
    assert isinstance(result, str), f"accepted: {result}"
    return result


# -- required strings and their lengths --------------------------------------------------

LIMITS = [("event_id", 128), ("website_id", 64), ("session_id", 128), ("visitor_id", 128)]


@pytest.mark.parametrize(("field", "limit"), LIMITS)
def test_id_fields_accept_up_to_their_limit(field: str, limit: int) -> None:
    assert accepted(event(**{field: "x" * limit}))[field] == "x" * limit
    assert accepted(event(**{field: "x"}))[field] == "x"
    # Characters, not bytes.
    assert accepted(event(**{field: "é" * limit}))[field] == "é" * limit


@pytest.mark.parametrize(("field", "limit"), LIMITS)
def test_id_fields_reject_one_over_the_limit(field: str, limit: int) -> None:
    assert rejected(event(**{field: "x" * (limit + 1)})) == f"{field} is longer than {limit} characters ({limit + 1})"


@pytest.mark.parametrize("field", [f for f, _ in LIMITS] + ["event_type", "occurred_at"])
def test_required_fields(field: str) -> None:
    assert rejected(event(**{field: DROP})) == f"{field} is required"


@pytest.mark.parametrize("field", [f for f, _ in LIMITS])
def test_id_fields_reject_null_empty_and_non_strings(field: str) -> None:
    assert rejected(event(**{field: None})) == f"{field} is required"
    assert rejected(event(**{field: ""})) == f"{field} must not be empty"
    assert rejected(event(**{field: 7})) == f"{field} must be a string, got a number"
    assert rejected(event(**{field: False})) == f"{field} must be a string, got a boolean"


@pytest.mark.parametrize("value", ["click", "PAGEVIEW", "", 1, ["pageview"], {"t": 1}])
def test_event_type_is_pageview_or_custom(value: Any) -> None:
    assert rejected(event(event_type=value)).startswith("event_type must be 'pageview' or 'custom'")


# -- event_name -------------------------------------------------------------------------------

def test_event_name_required_for_custom_events() -> None:
    assert rejected(custom_event(event_name=DROP)) == "event_name is required for custom events"
    assert rejected(custom_event(event_name="")) == "event_name must not be empty for custom events"
    assert rejected(custom_event(event_name=3)).startswith("event_name must be a string")


def test_event_name_length_boundary() -> None:
    assert accepted(custom_event("n" * 128))["event_name"] == "n" * 128
    assert rejected(custom_event("n" * 129)) == "event_name is longer than 128 characters (129) for custom events"


def test_event_name_stored_null_for_pageviews_even_if_given() -> None:
    assert accepted(event(event_name="clicked"))["event_name"] is None


# -- url_path ---------------------------------------------------------------------------------

def test_url_path_length_boundary() -> None:
    ok = "/" + "p" * 2047
    assert accepted(event(url_path=ok))["url_path"] == ok
    assert rejected(event(url_path=ok + "p")) == "url_path is longer than 2048 characters (2049)"


@pytest.mark.parametrize("value", ["pricing", "", " /x", "https://example.com/x"])
def test_url_path_must_start_with_a_slash(value: str) -> None:
    assert rejected(event(url_path=value)).startswith("url_path must start with '/'")


def test_url_path_required_for_pageviews_optional_for_custom() -> None:
    assert rejected(event(url_path=DROP)) == "url_path is required for pageview events"
    assert rejected(event(url_path=None)) == "url_path is required for pageview events"
    assert accepted(custom_event(url_path=DROP))["url_path"] is None
    assert accepted(custom_event(url_path=None))["url_path"] is None
    assert accepted(custom_event(url_path="/play"))["url_path"] == "/play"
    # Optional does not mean unchecked.
    assert rejected(custom_event(url_path="play")).startswith("url_path must start with '/'")
    assert rejected(custom_event(url_path=5)) == "url_path must be a string, got a number"


# -- referrer ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("https://www.Google.com/x", "google.com"),
        ("https://www.google.com/search?q=a b", "google.com"),
        ("http://WWW.Example.co.uk:8080/path", "example.co.uk"),
        ("https://user:secret@News.YCombinator.com/item?id=1", "news.ycombinator.com"),
        ("android-app://com.slack", "com.slack"),
        ("HTTPS://T.CO/abc", "t.co"),
        ("https://www.www.example.com/", "www.example.com"),  # one leading www. only
        ("https://wwwexample.com/", "wwwexample.com"),  # no dot: not a www. prefix
        ("https://www./x", "www."),  # nothing left after www.: keep it rather than store ""
        ("www.", "www."),
        ("Newsletter ", "newsletter"),
        ("  Twitter\t", "twitter"),
        ("(direct)", "(direct)"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_referrer_normalisation(raw: str | None, stored: str | None) -> None:
    assert normalise_referrer(raw) == stored
    assert accepted(event(referrer=raw))["referrer"] == stored


def test_referrer_absent_is_direct_and_non_strings_are_rejected() -> None:
    assert accepted(event(referrer=DROP))["referrer"] is None
    assert rejected(event(referrer=3)) == "referrer must be a string or null, got a number"
    assert rejected(event(referrer={"host": "x"})) == "referrer must be a string or null, got an object"


# -- occurred_at ------------------------------------------------------------------------------

def _utc(obj: dict[str, Any]) -> datetime:
    return datetime.strptime(accepted(obj)["occurred_at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, 0)),
        ("2024-03-01T10:00:00+00:00", datetime(2024, 3, 1, 10, 0)),
        ("2024-03-01T10:00:00+05:30", datetime(2024, 3, 1, 4, 30)),
        ("2024-03-01T10:00:00-08:00", datetime(2024, 3, 1, 18, 0)),
        ("2023-12-31T23:30:00-01:00", datetime(2024, 1, 1, 0, 30)),  # another UTC day
        ("2024-03-01T10:00:00.123456Z", datetime(2024, 3, 1, 10, 0, 0, 123456)),
        ("2024-02-29T10:00:00Z", datetime(2024, 2, 29, 10, 0)),
    ],
)
def test_occurred_at_with_z_or_offset_is_stored_in_utc(value: str, utc: datetime) -> None:
    assert _utc(event(occurred_at=value)) == utc.replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-03-01T10:00:00", "occurred_at has no UTC offset"),
        ("2024-03-01", "occurred_at has no UTC offset"),
        ("2024-02-30T10:00:00Z", "occurred_at is not a valid ISO 8601 timestamp"),
        ("2023-02-29T10:00:00Z", "occurred_at is not a valid ISO 8601 timestamp"),
        ("2024-03-01T25:00:00Z", "occurred_at is not a valid ISO 8601 timestamp"),
        ("yesterday", "occurred_at is not a valid ISO 8601 timestamp"),
        ("", "occurred_at is not a valid ISO 8601 timestamp"),
        (1709287200, "occurred_at must be an ISO 8601 string, got a number"),
        (None, "occurred_at must be an ISO 8601 string, got null"),
    ],
)
def test_bad_occurred_at_is_rejected(value: Any, reason: str) -> None:
    assert rejected(event(occurred_at=value)).startswith(reason)


def test_future_tolerance_is_five_minutes_at_ingestion() -> None:
    now = datetime(2024, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert _utc(event(occurred_at=now + timedelta(minutes=5))) == now + timedelta(minutes=5)
    assert _utc(event(occurred_at="2024-03-02T17:35:00+05:30")) == now + timedelta(minutes=5)
    too_far = now + timedelta(minutes=5, microseconds=1)
    assert rejected(event(occurred_at=too_far), now).startswith("occurred_at is more than 5 minutes in the future")
    assert rejected(event(occurred_at="2024-03-02T17:35:01+05:30"), now).startswith(
        "occurred_at is more than 5 minutes in the future"
    )
    # The same line is fine once the clock has moved on.
    assert accepted(event(occurred_at=too_far), now + timedelta(seconds=1))


# -- properties -------------------------------------------------------------------------------

def _properties_of_size(size: int) -> dict[str, str]:
    props = {"k": "x" * (size - len(b'{"k":""}'))}
    assert len(orjson.dumps(props)) == size
    return props


def test_properties_size_boundary_is_16_kib_serialised() -> None:
    ok = _properties_of_size(16384)
    assert orjson.loads(accepted(event(properties=ok))["properties"]) == ok
    assert rejected(event(properties=_properties_of_size(16385))) == (
        "properties are 16385 bytes serialised, the limit is 16384"
    )


@pytest.mark.parametrize(
    ("value", "got"), [([1, 2], "an array"), ("{}", "a string"), (5, "a number"), (True, "a boolean")]
)
def test_properties_must_be_an_object(value: Any, got: str) -> None:
    assert rejected(event(properties=value)) == f"properties must be a JSON object, got {got}"


def test_properties_object_is_kept_and_null_is_none() -> None:
    props = {"plan": "pro", "n": 3, "nested": {"a": [1, 2.5, None]}, "ü": "é"}
    assert orjson.loads(accepted(event(properties=props))["properties"]) == props
    assert accepted(event(properties=None))["properties"] is None
    assert accepted(event())["properties"] is None
    assert orjson.loads(accepted(event(properties={}))["properties"]) == {}


def test_unknown_fields_are_ignored() -> None:
    row = accepted(event(browser="firefox", screen={"w": 1}, tags=[1, 2]))
    assert set(row) == set(EVENT_COLUMNS)
    assert "firefox" not in str(row)


# -- IP addresses -----------------------------------------------------------------------------

def test_ip_and_context_ip_are_never_part_of_the_row() -> None:
    obj = event(ip="203.0.113.7", context={"ip": "203.0.113.8", "locale": "fr"},
                properties={"ip": "203.0.113.9", "context": {"ip": "2001:db8::1", "page": 2}, "plan": "x"})
    row = accepted(obj)
    assert "203.0.113" not in str(row) and "2001:db8" not in str(row)
    assert orjson.loads(row["properties"]) == {"context": {"page": 2}, "plan": "x"}


def test_properties_limit_is_measured_without_the_ip() -> None:
    props = _properties_of_size(16384)
    assert accepted(event(properties={**props, "ip": "203.0.113.7"}))


def test_redact_raw_strips_ip_fields_and_masks_ip_text() -> None:
    line = orjson.dumps(event(ip="203.0.113.7", context={"ip": "2001:db8::1", "ua": "x"}, event_type="bad")).decode()
    redacted = redact_raw(line)
    assert "203.0.113" not in redacted and "2001:db8" not in redacted
    assert orjson.loads(redacted)["context"] == {"ua": "x"}
    broken = '{"ip": "203.0.113.7", "x": "2001:db8:0:0:0:0:0:1", "t": "10:00:00"'
    assert redact_raw(broken) == '{"ip": "[ip]", "x": "[ip]", "t": "10:00:00"'


def test_redact_raw_cuts_at_64_kib() -> None:
    assert len(redact_raw("x" * 100_000).encode()) == 64 * 1024
    cut = redact_raw("é" * 40_000)  # 80,000 bytes: never split a character
    assert len(cut.encode()) <= 64 * 1024 and set(cut) == {"é"}


# -- not an object ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "got"), [([1], "an array"), (42, "a number"), (1.5, "a number"), ("s", "a string"), (None, "null"), (True, "a boolean")]
)
def test_non_object_lines_are_rejected(value: Any, got: str) -> None:
    assert rejected(value) == f"line is not a JSON object (got {got})"
