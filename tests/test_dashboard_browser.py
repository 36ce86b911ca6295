"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

The real app is served by uvicorn on a free loopback port over a real lake folder and DuckDB
file (the world of tests/test_api.py). The page must draw one bubble per summary item, open a
ticker's minute chart on click, and show the FALLBACK and NO_DATA banners — with no JavaScript
error in the console in any state. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from conftest import ARTIFACTS, free_port, wait_port
from test_api import NOW, build_world

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.layers.summary.build import build_summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import load
from orderflow_pipeline.warehouse.schema import ensure_schema

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed (make browser)"),
]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn in a thread on a free loopback port; stops by itself when the block ends."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def build_layers(lake: Lake, settings: Settings, days: Sequence[date | str], now: datetime) -> None:
    """The batch layers the dashboard reads (footprint -> warehouse -> summary) for each of `days`,
    for the browser tests that start from a tape rather than from candles."""
    con = duckdb.connect(settings.warehouse_target.location)
    try:
        ensure_schema(con)
        for d in days:
            build_footprint(lake, d)
            load.consolidate(lake, con, d)
            build_summary(lake, con, d, min_tickers=1, now=now)
    finally:
        con.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def page_at(browser: Any, url: str) -> Iterator[tuple[Any, list[str]]]:
    """A page with every console error and uncaught exception collected."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        page.goto(url)
        yield page, errors
    finally:
        page.close()


def seed_label(it: dict[str, Any]) -> str:
    """SPEC §13 labels, first that holds (computed here independently of app.js)."""
    if it["div"] > 5 and it["d"] > 2 and it["p"] >= -3:
        return "BREAKOUT"
    if it["p"] < -5:
        return "FALLING"
    if it["div"] > 5 and it["d"] < -2:
        return "HEAVY SELL"
    if it["div"] > 3 and it["p"] >= -3:
        return "WATCHING"
    return it["sig"]


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_dashboard_ok_bubbles_table_and_minute_chart(browser: Any, tmp_path: Path) -> None:
    world = build_world(
        tmp_path, n_tickers=120, dates=[keys.as_date("2026-02-09"), keys.as_date("2026-02-10")]
    )
    with serve(create_app(world.settings, clock=lambda: NOW)) as url, page_at(browser, url) as (page, errors):
        summary = httpx.get(f"{url}/footprint/summary").json()
        items = summary["items"]
        assert summary["status"] == "OK" and len(items) == 120

        page.wait_for_function("window.__bubbleCount > 0", timeout=20_000)
        assert page.evaluate("window.__bubbleCount") == len(items)
        assert page.get_attribute("#bubble-chart", "data-bubble-count") == str(len(items))
        banner = page.locator("#status-banner")
        assert banner.get_attribute("data-status") == "OK"
        text = banner.inner_text()
        assert "date 2026-02-10" in text and summary["generated_at"] in text and "ctx_found" in text
        assert page.locator("#summary-table tbody tr").count() == len(items)

        # The label column is the seed's rule, row by row.
        labels = dict(
            zip(
                page.locator("#summary-table tbody td.t").all_inner_texts(),
                page.locator("#summary-table tbody td.label").all_inner_texts(),
                strict=True,
            )
        )
        assert labels == {it["t"]: seed_label(it) for it in items}

        # Signal filter: only BREAKOUT bubbles and rows remain.
        n_breakout = sum(seed_label(it) == "BREAKOUT" for it in items)
        assert n_breakout > 0
        page.select_option("#signal-filter", "label:BREAKOUT")
        assert page.evaluate("window.__bubbleCount") == n_breakout
        assert page.locator("#summary-table tbody tr").count() == n_breakout
        page.select_option("#signal-filter", "")
        assert page.evaluate("window.__bubbleCount") == len(items)

        # Sorting by delta % (descending on first click).
        page.click("#summary-table th[data-key=d]")
        first = page.locator("#summary-table tbody tr").first.get_attribute("data-ticker")
        assert first == max(items, key=lambda it: it["d"])["t"]

        # Click a real bubble (the biggest, drawn where the chart says it is) → its minute chart.
        big = max(items, key=lambda it: abs(it["d"] * it["v"]))
        xy = page.evaluate("t => window.__bubblePixel(t)", big["t"])
        page.mouse.click(xy["x"], xy["y"])
        page.wait_for_function("document.querySelector('#minute-chart').dataset.candles > 0", timeout=10_000)
        opened = page.get_attribute("#minute-chart", "data-ticker")
        assert opened in {it["t"] for it in items}
        # 75 planted minutes per ticker-day (45 at 09:xx + 30 at 10:xx WIB).
        assert page.get_attribute("#minute-chart", "data-candles") == "75"

        # Click a table row → that ticker's minute chart, read from the warehouse.
        page.click("#summary-table tbody tr[data-ticker=T005]")
        page.wait_for_function(
            "document.querySelector('#minute-chart').dataset.ticker === 'T005' && window.__minute"
            " && window.__minute.ticker === 'T005'",
            timeout=10_000,
        )
        assert page.evaluate("window.__minute.candles") == 75
        cum = sum(c["delta"] for c in world.candles[("T005", keys.as_date("2026-02-10"))])
        assert page.evaluate("window.__minute.cumDelta") == cum
        assert "source warehouse" in page.inner_text("#minute-status")
        path = shot(page, "dashboard_ok.png")
        assert path.stat().st_size > 10_000
        assert page.locator("#js-errors").is_hidden()
        assert errors == []


def test_dashboard_fallback_banner_then_auto_refresh_to_ok(browser: Any, tmp_path: Path) -> None:
    world = build_world(tmp_path, n_tickers=30)
    l0 = world.lake.read_bytes(keys.SUMMARY_LATEST)
    world.lake.delete(keys.SUMMARY_LATEST)  # L0 gone; earlier dates are in the warehouse
    app = create_app(world.settings, clock=lambda: NOW, summary_ttl=0)
    with serve(app) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.clock.install()  # the page's timers run on a clock the test can move
        try:
            page.goto(url)
            page.wait_for_function("document.body.dataset.loaded === '1'", timeout=20_000)
            banner = page.locator("#status-banner")
            assert banner.get_attribute("data-status") == "FALLBACK"
            assert "Using 2026-02-10 (2 trading day(s) ago)" in banner.inner_text()
            assert page.evaluate("window.__bubbleCount") == 30
            shot(page, "dashboard_fallback.png")

            # The pipeline writes L0 again; within 60 s the page refreshes itself and shows OK.
            world.lake.write_bytes(keys.SUMMARY_LATEST, l0)
            page.clock.run_for(30_000)
            assert page.evaluate("document.body.dataset.loaded") == "1"  # not yet: refresh is every 60 s
            page.clock.run_for(31_000)
            page.wait_for_function("document.body.dataset.loaded === '2'", timeout=10_000)
            assert banner.get_attribute("data-status") == "OK"
            assert page.evaluate("window.__bubbleCount") == 30
            assert errors == []
        finally:
            page.close()


def test_dashboard_no_data_banner(browser: Any, tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'warehouse.duckdb'}")
    with serve(create_app(settings, clock=lambda: NOW)) as url, page_at(browser, url) as (page, errors):
        page.wait_for_function(
            "document.querySelector('#status-banner').dataset.status !== 'LOADING'", timeout=20_000
        )
        banner = page.locator("#status-banner")
        assert banner.get_attribute("data-status") == "NO_DATA"
        assert "No recent trading data found in last 7 days." in banner.inner_text()
        assert page.evaluate("window.__bubbleCount") == 0
        assert page.locator("#summary-table tbody tr").count() == 0
        shot(page, "dashboard_no_data.png")
        assert page.locator("#js-errors").is_hidden()
        assert errors == []


# -- ?debug (issue 19): response metadata, fallback reason, signal distribution, filter counts -----


def _debug_cells(page: Any, table_id: str) -> dict[str, str]:
    return dict(
        zip(
            page.locator(f"#{table_id} th").all_inner_texts(),
            page.locator(f"#{table_id} td").all_inner_texts(),
            strict=True,
        )
    )


def test_debug_panel_shows_metadata_signals_and_filter_counts(browser: Any, tmp_path: Path) -> None:
    world = build_world(tmp_path, n_tickers=40)
    with serve(create_app(world.settings, clock=lambda: NOW)) as url:
        # Without ?debug the panel stays hidden.
        with page_at(browser, url) as (page, errors):
            page.wait_for_function("window.__bubbleCount > 0", timeout=20_000)
            assert page.locator("#debug-panel").is_hidden()
            assert errors == []
        with page_at(browser, url + "/?debug") as (page, errors):
            logs: list[str] = []
            page.on("console", lambda m: logs.append(m.text))
            page.wait_for_function("window.__bubbleCount > 0 && window.__debugInfo", timeout=20_000)
            summary = httpx.get(f"{url}/footprint/summary").json()
            items = summary["items"]
            assert page.locator("#debug-panel").is_visible()
            resp = _debug_cells(page, "debug-response")
            assert resp["http"] == "200" and resp["status"] == "OK" and resp["x-stale"] == "no"
            assert resp["count"] == str(summary["count"]) == resp["items"] == "40"
            assert resp["source"] == summary["source"] and resp["date"] == summary["date"]
            assert (
                resp["generated_at"] == summary["generated_at"]
                and resp["ctx_found"] == str(summary["ctx_found"]).lower()
            )
            assert resp["etag"] not in ("", "–")  # the summary route sends an ETag
            assert _debug_cells(page, "debug-fallback")["reason"].startswith("none (L0")
            # Signal distribution = a count over the served items.
            want: dict[str, int] = {}
            for it in items:
                want[it["sig"]] = want.get(it["sig"], 0) + 1
            assert {k: int(v) for k, v in _debug_cells(page, "debug-signals").items()} == want
            labels: dict[str, int] = {}
            for it in items:
                labels[seed_label(it)] = labels.get(seed_label(it), 0) + 1
            assert {k: int(v) for k, v in _debug_cells(page, "debug-labels").items()} == labels
            # Filter counts follow the filter.
            f = _debug_cells(page, "debug-filters")
            assert (f["rows_shown"], f["rows_total"], f["rows_hidden"], f["bubbles"]) == (
                "40",
                "40",
                "0",
                "40",
            )
            top_sig = max(want, key=lambda s: (want[s], s))
            page.select_option("#signal-filter", f"sig:{top_sig}")
            f = _debug_cells(page, "debug-filters")
            n = want[top_sig]
            assert (f["signal_filter"], f["rows_shown"], f["rows_hidden"], f["bubbles"]) == (
                f"sig:{top_sig}",
                str(n),
                str(40 - n),
                str(n),
            )
            assert any(line.startswith("[orderflow debug] response") for line in logs)
            shot(page, "dashboard_debug.png")
            assert errors == []


def test_debug_panel_names_the_fallback_reason(browser: Any, tmp_path: Path) -> None:
    world = build_world(tmp_path, n_tickers=30)
    world.lake.delete(keys.SUMMARY_LATEST)  # L0 gone: the chain falls back to an earlier session
    with serve(create_app(world.settings, clock=lambda: NOW, summary_ttl=0)) as url:
        with page_at(browser, url + "/?debug") as (page, errors):
            page.wait_for_function("window.__debugInfo && window.__debugInfo.response.status", timeout=20_000)
            assert _debug_cells(page, "debug-response")["status"] == "FALLBACK"
            reason = _debug_cells(page, "debug-fallback")["reason"]
            assert reason.startswith("Using 2026-02-10 (2 trading day(s) ago)") and "(L1" in reason
            assert errors == []
