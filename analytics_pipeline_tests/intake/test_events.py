"""Request bodies to verdicts and landing lines: the ingestion rules, the website scope, gzip
limits, and no IP ever written. Pure functions, no server.

The property test runs ``INTAKE_PROPERTY_EXAMPLES`` examples (default 150; set it higher for a
long run)."""

from __future__ import annotations

import gzip
import os
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.validate import validate_event
from analytics_pipeline.intake.events import BodyProblem, check_events, decode_body, read_events, stored_line
from analytics_pipeline_tests.factories import NOW, custom_event, event

EXAMPLES = int(os.environ.get("INTAKE_PROPERTY_EXAMPLES", "150"))
ANY_SITE = lambda _w: True  # noqa: E731


def _read(body: bytes, batch: bool = True, encoding: str | None = None, max_bytes: int = 1 << 20,
          max_events: int = 100) -> tuple[list[Any], bool]:
    return read_events(body, encoding, batch, max_bytes, max_events)


def test_each_event_gets_its_verdict_and_only_accepted_ones_are_written() -> None:
    events = [event(event_id="ok-1"), {"event_id": "bad-1"}, custom_event("signup", event_id="ok-2"),
              event(event_id="other-site", website_id="blog"), "not an object"]
    verdicts = check_events(events, NOW, lambda website: website == "site-a")
    assert (verdicts.accepted, verdicts.rejected, verdicts.forbidden) == (2, 3, 1)
    assert verdicts.results == [
        {"index": 0, "event_id": "ok-1", "status": "accepted"},
        {"index": 1, "event_id": "bad-1", "status": "rejected", "reason": "website_id is required"},
        {"index": 2, "event_id": "ok-2", "status": "accepted"},
        {"index": 3, "event_id": "other-site", "status": "rejected",
         "reason": "this API key may not send events for website 'blog'"},
        {"index": 4, "event_id": None, "status": "rejected", "reason": "line is not a JSON object (got a string)"},
    ]
    lines = verdicts.lines.splitlines()
    assert [orjson.loads(line)["event_id"] for line in lines] == ["ok-1", "ok-2"]
    assert verdicts.lines.endswith(b"\n")


def test_ip_fields_are_never_written_and_other_fields_are_kept() -> None:
    obj = event(event_id="ip-1", ip="203.0.113.9", context={"ip": "2001:db8::1", "userAgent": "Firefox"},
                properties={"plan": "pro", "ip": "198.51.100.2", "context": {"ip": "192.0.2.1", "locale": "de"}})
    written = orjson.loads(check_events([obj], NOW, ANY_SITE).lines)
    assert "ip" not in written and written["context"] == {"userAgent": "Firefox"}
    assert written["properties"] == {"plan": "pro", "context": {"locale": "de"}}
    assert b"203.0.113.9" not in stored_line(obj) and b"192.0.2.1" not in stored_line(obj)
    assert obj["ip"] == "203.0.113.9"  # the caller's object is left alone


def test_an_unknown_field_too_deep_to_re_encode_is_dropped_not_the_event() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    obj = {**event(event_id="deep-1"), "extra": deep}
    written = orjson.loads(check_events([obj], NOW, ANY_SITE).lines)
    assert written == event(event_id="deep-1")


def test_escaped_nul_takes_the_careful_path_and_gets_the_rule_reason() -> None:
    body = orjson.dumps([event(event_id="nul\u0000id"), event(event_id="fine-1")])
    events, careful = _read(body)
    assert careful
    verdicts = check_events(events, NOW, ANY_SITE, careful)
    assert verdicts.results[0]["reason"].startswith("event_id contains a NUL character")
    assert verdicts.accepted == 1


def test_gzip_bodies_are_inflated_within_the_limit() -> None:
    body = orjson.dumps([event(event_id=f"gz-{i}") for i in range(3)])
    events, _ = _read(gzip.compress(body), encoding="gzip")
    assert [e["event_id"] for e in events] == ["gz-0", "gz-1", "gz-2"]
    # two gzip members are one body, as the format says
    two = gzip.compress(body[:10]) + gzip.compress(body[10:])
    assert _read(two, encoding="x-gzip")[0] == events


@pytest.mark.parametrize("body,encoding,status,code", [
    (gzip.compress(b"[" + b" " * 5_000_000 + b"]"), "gzip", 413, "body_too_large"),  # a 5 MB bomb of ~5 KB
    (gzip.compress(b"[]")[:-4], "gzip", 400, "invalid_gzip"),
    (b"not gzip at all", "gzip", 400, "invalid_gzip"),
    (b"[]", "br", 415, "unsupported_encoding"),
    (b"[1, 2", None, 400, "invalid_json"),
    (b'"\xff"', None, 400, "invalid_json"),
    (b"{}", None, 400, "invalid_batch"),
    (b"[]", None, 400, "empty_batch"),
    (b"[" + b",".join([b"{}"] * 101) + b"]", None, 413, "batch_too_large"),
], ids=["gzip-bomb", "cut-gzip", "not-gzip", "brotli", "cut-json", "bad-utf8", "not-an-array", "empty", "too-many"])
def test_unusable_bodies_are_refused_whole(body: bytes, encoding: str | None, status: int, code: str) -> None:
    with pytest.raises(BodyProblem) as problem:
        _read(body, encoding=encoding, max_bytes=1 << 20)
    assert (problem.value.status, problem.value.code) == (status, code)


def test_the_bomb_is_never_inflated_past_the_limit() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(BodyProblem) as problem:
        decode_body(bomb, "gzip", 1000)
    assert problem.value.status == 413


def test_a_single_event_body_is_one_event_whatever_its_json() -> None:
    assert _read(b'{"a": 1}', batch=False)[0] == [{"a": 1}]
    assert _read(b"[1]", batch=False)[0] == [[1]]  # then rejected as "not a JSON object"


# -- property: the intake agrees with file ingestion, event by event -------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
FIELDS = ["event_id", "website_id", "session_id", "visitor_id", "event_type", "event_name", "url_path",
          "referrer", "occurred_at", "properties", "ip", "context"]


@st.composite
def request_event(draw: st.DrawFn) -> Any:
    n = draw(st.integers(0, 50))
    obj: Any = custom_event(f"n{n}", event_id=f"p-{n}") if draw(st.booleans()) else event(event_id=f"p-{n}")
    if draw(st.booleans()):
        obj["ip"] = "203.0.113.7"
        obj["context"] = draw(st.sampled_from([{"ip": "2001:db8::2", "locale": "fr"}, "text", None, {"ip": 1}]))
    if draw(st.booleans()):
        obj["properties"] = draw(st.sampled_from([{"ip": "198.51.100.1", "n": n},
                                                  {"context": {"ip": "192.0.2.3"}}, {"x": "\u0000"}]))
    for _ in range(draw(st.integers(0, 2))):
        field = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            obj.pop(field, None)
        else:
            obj[field] = draw(JSON_VALUES | st.text(max_size=140))
    if draw(st.integers(0, 20)) == 0:
        obj = draw(JSON_VALUES)
    return obj


def _no_ip(obj: dict[str, Any]) -> bool:
    props = obj.get("properties")
    inner = [obj, obj.get("context"), props, props.get("context") if isinstance(props, dict) else None]
    return not any(isinstance(d, dict) and "ip" in d for d in inner)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)
@given(st.lists(request_event(), min_size=1, max_size=5), st.sampled_from(["site-a", None]))
def test_verdicts_agree_with_file_ingestion_and_written_lines_reload_the_same(events: list[Any],
                                                                              scope: str | None) -> None:
    body = orjson.dumps(events)
    parsed, careful = _read(body)
    allows = ANY_SITE if scope is None else (lambda website: website == scope)
    verdicts = check_events(parsed, NOW, allows, careful)
    written = iter(verdicts.lines.splitlines())
    for obj, result in zip(events, verdicts.results, strict=True):
        expected = validate_event(obj, NOW)
        if isinstance(expected, str):
            assert result["status"] == "rejected" and result["reason"] == expected
        elif not allows(expected[1]):
            assert result["status"] == "rejected" and "may not send events" in result["reason"]
        else:
            assert result == {"index": result["index"], "event_id": expected[0], "status": "accepted"}
            line = orjson.loads(next(written))
            assert validate_event(line, NOW) == expected  # file ingestion loads the same row
            assert _no_ip(line)
    assert next(written, None) is None
    assert verdicts.accepted + verdicts.rejected == len(events)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "gzip", "identity", "deflate"]), st.booleans())
def test_any_body_is_events_or_a_4xx_never_a_crash(raw: bytes, encoding: str | None, compress: bool) -> None:
    if compress and encoding == "gzip":
        raw = gzip.compress(raw)[: len(raw) + 10]  # whole or cut short
    try:
        events, _ = _read(raw, encoding=encoding, max_bytes=200, max_events=5)
    except BodyProblem as problem:
        assert problem.status in (400, 413, 415)
        return
    verdicts = check_events(events, NOW, ANY_SITE)
    assert verdicts.accepted + verdicts.rejected == len(events) <= 5


def test_events_before_the_start_date_are_rejected_as_in_files() -> None:
    from datetime import date

    start = date(2024, 1, 1)
    events = [event(event_id="old", occurred_at="2023-12-31T23:59:59Z"),
              event(event_id="year-1", occurred_at="0001-01-01T00:00:00+05:45"),
              event(event_id="first", occurred_at="2024-01-01T00:00:00Z")]
    verdicts = check_events(events, NOW, ANY_SITE, start=start)
    statuses = {r["event_id"]: r["status"] for r in verdicts.results}
    assert statuses == {"old": "rejected", "year-1": "rejected", "first": "accepted"}
    reasons = [r["reason"] for r in verdicts.results if r["status"] == "rejected"]
    assert reasons == [validate_event(e, NOW, start) for e in events[:2]]
