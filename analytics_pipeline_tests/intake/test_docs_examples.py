"""The examples of docs/intake.md work as written: the curl commands' JSON is accepted with the
key set up the way the page says, the keys file example loads, and the browser tracker (run by
Node.js where it is installed) sends events the intake accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from analytics_pipeline.api.security import load_keys_file
from analytics_pipeline.ingestion.run import pending_files

DOCS = Path(__file__).resolve().parents[2] / "docs" / "intake.md"
CURL = re.compile(r"curl [^`]*?http://127\.0\.0\.1:8000(/api/events(?:/batch)?)[^`]*?-d '([^']*)'")


def test_the_curl_examples_are_accepted(intake_client, landing_dir: Path) -> None:
    text = DOCS.read_text()
    inline_keys = re.search(r'export ANALYTICS_API_KEYS="([^"]+)"', text).group(1)
    key = re.search(r"export ANALYTICS_KEY=(\S+)", text).group(1)
    examples = CURL.findall(text)
    assert [path for path, _ in examples] == ["/api/events", "/api/events/batch"]
    with intake_client(inline=inline_keys) as client:
        for path, body in examples:
            sent = orjson.loads(body)
            count = len(sent) if isinstance(sent, list) else 1
            response = client.post(path, content=body.encode(), headers={"X-API-Key": key,
                                                                          "Content-Type": "application/json"})
            assert response.status_code == 202, response.text
            assert (response.json()["accepted"], response.json()["rejected"]) == (count, 0)
    written = [orjson.loads(line) for f in pending_files(landing_dir) for line in f.read_bytes().splitlines()]
    assert len(written) == 2


def test_the_keys_file_example_loads(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(keys:.*?)```", DOCS.read_text(), re.S).group(1)
    path = tmp_path / "api_keys.yaml"
    path.write_text(block)
    keys, problems = load_keys_file(path, 600)
    assert problems == [] and yaml.safe_load(block)["keys"][0]["send_only"] is True
    tracker, backend = keys
    assert (tracker.send_only, tracker.websites, tracker.rate_per_minute) == (True, frozenset({"shop"}), 60000)
    assert (backend.send_only, backend.websites) == (False, None)


# The browser tracker, run by Node with the few browser APIs it uses stubbed: two page loads in
# one tab, then a load in a new tab. What it would send is posted to the intake.
_BROWSER = r"""
const vm = require("vm");
const snippet = process.argv[2];
const local = new Map();
function storage(map) {
  return { getItem: (k) => (map.has(k) ? map.get(k) : null), setItem: (k, v) => map.set(k, String(v)) };
}
const beacons = [];
function page(session, path) {
  const listeners = {};
  const doc = { referrer: "https://www.google.com/", visibilityState: "visible",
                addEventListener: (name, fn) => { listeners[name] = fn; } };
  const context = { crypto, JSON, Date, Math, Object, localStorage: storage(local), sessionStorage: storage(session),
                    navigator: { sendBeacon: (url, body) => { beacons.push({ url, body }); return true; } },
                    location: { pathname: path }, document: doc, setInterval: () => 0, fetch: () => null };
  context.window = context;
  vm.runInNewContext(snippet, context);
  context.window.analyticsTrack("signup", { plan: "pro" });
  doc.visibilityState = "hidden";
  listeners.visibilitychange();
}
const tab = new Map();
page(tab, "/");
page(tab, "/pricing");
page(new Map(), "/docs");
console.log(JSON.stringify(beacons));
"""


def test_the_browser_tracker_sends_pageviews_with_visitor_and_session_ids(intake_client, landing_dir: Path,
                                                                           tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the browser tracker is not run")
    snippet = re.search(r"<script>\n(.*?)</script>", DOCS.read_text(), re.S).group(1)
    url = re.search(r'var ENDPOINT = "https://analytics\.example\.com(/api/events/batch\?key=([^"]+))"', snippet)
    website = re.search(r'var WEBSITE = "([^"]+)"', snippet).group(1)
    script = tmp_path / "browser.js"
    script.write_text(_BROWSER)
    out = subprocess.run([node, str(script), snippet], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    beacons = orjson.loads(out.stdout)
    assert len(beacons) == 3 and all(b["url"].endswith(url.group(1)) for b in beacons)

    with intake_client(inline=f"{url.group(2)}={website}") as client:
        for beacon in beacons:  # what sendBeacon sends: a text/plain body, the key in the URL
            response = client.post(url.group(1), content=beacon["body"].encode(),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"})
            assert response.status_code == 202 and response.json()["rejected"] == 0, response.text
    events = [orjson.loads(b["body"]) for b in beacons]
    first, second, other_tab = events
    assert [e["event_type"] for e in first] == ["pageview", "custom"]
    assert first[0]["url_path"] == "/" and second[0]["url_path"] == "/pricing"
    assert first[0]["referrer"] == "https://www.google.com/" and first[1]["event_name"] == "signup"
    visitors = {e["visitor_id"] for page in events for e in page}
    assert len(visitors) == 1  # one browser, one visitor
    assert first[0]["session_id"] == second[0]["session_id"] != other_tab[0]["session_id"]
    ids = [e["event_id"] for page in events for e in page]
    assert len(set(ids)) == 6
    written = [orjson.loads(line) for f in pending_files(landing_dir) for line in f.read_bytes().splitlines()]
    assert sorted(e["event_id"] for e in written) == sorted(ids)
