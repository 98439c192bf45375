"""The dashboard page in a real browser (the system chromium driven by playwright; no browser
download): the numbers it shows equal the warehouse's, no error banner, the chart has a point
per day, the website selector and the live stream work, and a screenshot shows the chart."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from analytics_pipeline.cache.warm import warm_job
from analytics_pipeline.warehouse import Warehouse
from analytics_pipeline_tests.api.conftest import ALL_KEY, LiveServer, demo_warehouse, make_app
from analytics_pipeline_tests.conftest import IN_CI

CHROMIUM = os.environ.get("ANALYTICS_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def expected_cards(warehouse: Warehouse, first, end, website: str | None) -> dict[str, int]:
    """Pageviews and sessions from daily_stats, visitors counted from events (per website,
    summed), straight from SQL, independent of the API's code."""
    site = "" if website is None else " AND website_id = :site"
    params = {"f": warehouse.day(first), "e": warehouse.day(end), "site": website}
    with warehouse.connect() as conn:
        pageviews, sessions = conn.execute(sa.text(
            f"SELECT sum(total_pageviews), sum(sessions_started) FROM daily_stats WHERE date >= :f AND date < :e{site}"),
            params).one()
        visitors = conn.execute(sa.text(
            "SELECT coalesce(sum(n), 0) FROM (SELECT count(DISTINCT visitor_id) AS n FROM events "
            f"WHERE occurred_at >= :a AND occurred_at < :b{site} GROUP BY website_id) AS per_site"),
            {"a": warehouse.ts(_midnight(first)), "b": warehouse.ts(_midnight(end)), "site": website}).scalar()
    return {"pageviews": int(pageviews), "sessions": int(sessions), "visitors": int(visitors)}


def _midnight(day):
    from datetime import datetime, time as dtime, timezone

    return datetime.combine(day, dtime(0), tzinfo=timezone.utc)


def _card(page, name: str) -> tuple[float, str]:
    value = page.locator(f'[data-testid="card-{name}"] .value')
    return float(value.get_attribute("data-value")), value.inner_text()


def test_dashboard_shows_the_warehouse_numbers(browser, tmp_path: Path, landing_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    first, today = demo_warehouse(warehouse, landing_dir, days=16, events_per_day=300)
    from datetime import timedelta

    app = make_app(url, "", tmp_path, stream_poll_seconds=0.3)
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{server.url}/?key={ALL_KEY}")
        page.wait_for_selector("body[data-loaded=true]", timeout=30000)
        assert "key=" not in page.url  # the key left the address bar for sessionStorage
        assert page.locator('[data-testid="error"]').is_hidden()

        page.click('button[data-timeframe="7d"]')
        page.wait_for_function("document.getElementById('period').textContent.includes('(7 days)')")
        want = expected_cards(warehouse, today - timedelta(days=7), today, None)
        for name in ("pageviews", "sessions", "visitors"):
            value, text = _card(page, name)
            assert value == want[name] and text == f"{want[name]:,}", name
        assert want["pageviews"] > 0
        assert page.locator('[data-testid="trend-point"]').count() == 7
        points = page.locator('[data-testid="trend-point"]')
        assert sum(int(points.nth(i).get_attribute("data-pageviews")) for i in range(7)) == want["pageviews"]
        assert page.locator('[data-testid="top-pages"] .row').count() > 0
        assert page.locator('[data-testid="events-by-type"] .row').count() > 0

        # one website
        site = page.locator('[data-testid="website-select"] option').nth(1).get_attribute("value")
        page.select_option('[data-testid="website-select"]', site)
        page.wait_for_function(f"document.getElementById('period').textContent.startsWith({site!r})")
        want_site = expected_cards(warehouse, today - timedelta(days=7), today, site)
        assert _card(page, "pageviews")[0] == want_site["pageviews"] < want["pageviews"]

        # live: a cache refresh pushes the dashboard again
        page.wait_for_selector('[data-testid="live"].on', timeout=10000)
        time.sleep(0.5)
        warm_job("summary", warehouse, app.state.services.cache())
        page.wait_for_function("document.getElementById('foot').textContent.includes('refreshed by summary')",
                               timeout=15000)
        assert page.locator('[data-testid="error"]').is_hidden()

        # 30 days: the dates under the trend never run into each other, the last one included
        page.click('button[data-timeframe="30d"]')
        page.wait_for_function("document.getElementById('period').textContent.includes('(30 days)')")
        dates = page.evaluate("""[...document.querySelectorAll('[data-testid="trend-chart"] .axis text')]
            .filter(t => t.getAttribute('text-anchor') === 'middle')
            .map(t => { const b = t.getBBox(); return [b.x, b.x + b.width, t.textContent]; })""")
        dates.sort()
        assert len(dates) >= 5
        assert all(left[1] <= right[0] for left, right in zip(dates, dates[1:])), dates

        shot = tmp_path / "dashboard.png"
        page.locator('[data-testid="trend-chart"]').screenshot(path=str(shot))
        _assert_chart_drawn(shot)
        page.close()


def _assert_chart_drawn(path: Path) -> None:
    """The chart's screenshot has the pageview line's blue in it (an empty or failed chart has
    only white, grey and text)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    blue = sum(1 for r, g, b in image.getdata() if b > 180 and r < 90 and 60 < g < 120)
    assert blue > 200, f"only {blue} pixels of the line colour in the chart screenshot"


def test_dashboard_without_a_key_asks_for_one_and_reports_a_wrong_one(browser, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    Warehouse(url)
    with LiveServer(make_app(url, "", tmp_path)) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector("#login:not(.hidden)")
        page.fill("#key-input", "not-a-valid-key")
        page.click("#login button")
        page.wait_for_selector('[data-testid="error"]:not(.hidden)')
        assert "not accepted" in page.locator('[data-testid="error"]').inner_text()
        page.close()


HOSTILE_PATH = '/<img src=x onerror="window.__injected=1">'
HOSTILE_EVENT = "<script>window.__injected=2</script>=cmd|' /C calc'!A0\x07"
HOSTILE_REFERRER = "javascript:window.__injected=3//<b>bold</b>"


def test_dashboard_renders_hostile_text_as_text(browser, tmp_path: Path, landing_dir: Path) -> None:
    """Paths, event names and referrers that look like HTML, script or a spreadsheet formula are
    shown as the characters they are: nothing from the data runs or becomes markup."""
    from datetime import datetime, time as dtime, timedelta, timezone

    from analytics_pipeline.stats.build import build_period
    from analytics_pipeline_tests.stats.helpers import drop, ingest

    now = datetime.now(timezone.utc)
    day = now.date() - timedelta(days=1)
    at = datetime.combine(day, dtime(12), tzinfo=timezone.utc).isoformat()
    base = {"website_id": "site<i>", "session_id": "s1", "visitor_id": "v1", "occurred_at": at}
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    warehouse = Warehouse(url)
    drop(landing_dir, "hostile.jsonl", [
        {**base, "event_id": "h1", "event_type": "pageview", "url_path": HOSTILE_PATH, "referrer": HOSTILE_REFERRER},
        {**base, "event_id": "h2", "event_type": "custom", "event_name": HOSTILE_EVENT},
    ])
    ingest(warehouse, landing_dir, now)
    build_period(warehouse, "day", day)

    with LiveServer(make_app(url, "", tmp_path)) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{server.url}/?key={ALL_KEY}")
        page.wait_for_selector("body[data-loaded=true]", timeout=30000)
        page.click('button[data-timeframe="7d"]')
        page.wait_for_function("document.getElementById('period').textContent.includes('(7 days)')")
        assert page.evaluate("window.__injected") is None
        assert page.locator("img, script:not([src]), b").count() == 0
        assert HOSTILE_PATH in page.locator('[data-testid="top-pages"]').inner_text()
        assert HOSTILE_EVENT[:40] in page.locator('[data-testid="events-by-type"]').inner_text()
        assert page.locator('[data-testid="error"]').is_hidden()
        page.close()
