"""Property: whatever a client sends to the two endpoints, the answer is a JSON 2xx/4xx (never a
500), and exactly the events answered ``accepted`` reach the landing files, without IPs.

Examples: ``INTAKE_PROPERTY_EXAMPLES`` (default 150)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.run import pending_files
from analytics_pipeline_tests.factories import event

EXAMPLES = int(os.environ.get("INTAKE_PROPERTY_EXAMPLES", "150"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_n = iter(range(10**9))


@st.composite
def maybe_event(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "json"]))
    if kind == "json":
        return draw(JSON)
    obj = event(event_id=f"hp-{next(_n)}", website_id=draw(st.sampled_from(["site-a", "site-b"])),
                ip="203.0.113.4", context={"ip": "203.0.113.4", "ua": "x"})
    if kind == "mutated":
        obj[draw(st.sampled_from(sorted(obj)))] = draw(JSON)
    return obj


@st.composite
def request_body(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    batch = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.binary(max_size=200))
    elif batch:
        body = orjson.dumps(draw(st.lists(maybe_event(), max_size=6)))
    else:
        body = orjson.dumps(draw(maybe_event()))
    headers = {"X-API-Key": "prop-key-123"}
    if draw(st.booleans()):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return ("/api/events/batch" if batch else "/api/events"), body, headers


def test_any_request_gets_a_json_answer_and_only_accepted_events_are_stored(intake_client, landing_dir: Path) -> None:
    accepted: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(request_body())
    def check(request: tuple[str, bytes, dict[str, str]]) -> None:
        path, body, headers = request
        response = client.post(path, content=body, headers=headers)
        assert response.status_code in (202, 400, 403, 413, 415), response.text
        answer = response.json()
        if "results" in answer:
            assert answer["accepted"] + answer["rejected"] == len(answer["results"])
            accepted.extend(r["event_id"] for r in answer["results"] if r["status"] == "accepted")
            assert (response.status_code == 202) == (answer["accepted"] > 0)
        else:
            assert response.status_code != 202 and answer["error"]["code"]

    with intake_client(inline="prop-key-123=site-a", max_body=4096) as client:
        check()
    assert len(accepted) > 20  # the examples do reach the files
    written = [orjson.loads(line) for f in pending_files(landing_dir) for line in f.read_bytes().splitlines()]
    assert sorted(e["event_id"] for e in written) == sorted(accepted)
    assert all("ip" not in e and not (isinstance(e.get("context"), dict) and "ip" in e["context"]) for e in written)
    assert all(e["website_id"] == "site-a" for e in written)
