"""The dashboard on a simulated market in real headless Chromium (issue 29): the footprint of the
busiest ticker shows its biggest cells, spans the day and grids on real ticks; one legend for labels
and signals with each item's fired rule; the weekend FALLBACK banner; the session chip.

The world is the project's simulator (a Mon-Fri week of 12 snapshot tickers at the demo's trade
scale, so the liquid names have 5-6 digit cells) through the real footprint layer, warehouse load
and summary build; the API is the real app under uvicorn, the clock pinned to Monday 10:00 WIB.
Every expected value comes from the API's own bodies or the core functions, never a constant.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS
from test_api import hour_files
from test_dashboard_browser import CHROMIUM, browser, build_layers, page_at, serve  # noqa: F401 - browser is a fixture

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.read.profile import tick_size
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make browser)"),
]

DAYS = idx_calendar.trading_days("2026-02-02", "2026-02-06")  # Mon..Fri
FRIDAY = DAYS[-1]
SATURDAY = date(2026, 2, 7)
NOW = datetime(2026, 2, 9, 3, 0, tzinfo=timezone.utc)  # Monday 10:00 WIB: session 1


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Lake]]:
    root = tmp_path_factory.mktemp("market")
    lake = Lake(str(root / "lake"))
    simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=12, seed=7)
    settings = Settings(lake=lake.root, warehouse=f"duckdb:{root / 'warehouse.duckdb'}")
    build_layers(lake, settings, DAYS, NOW)
    with serve(create_app(settings, clock=lambda: NOW)) as url:
        yield url, lake


def lots(n: int) -> str:
    """The chart's abbreviation, worked independently: exact below 10,000, else 3 significant
    digits rounded half up with k / M / B, trailing zeros dropped (74625 -> 74.6k, 1530000 -> 1.53M)."""
    if n < 10_000:
        return str(n)
    e = len(str(n)) - 3
    r = (n + 5 * 10 ** (e - 1)) // 10**e
    if r == 1000:
        r, e = 100, e + 1
    digits = len(str(r * 10**e))
    unit, suffix = (9, "B") if digits > 9 else (6, "M") if digits > 6 else (3, "k")
    return format(Decimal(r).scaleb(e - unit).normalize(), "f") + suffix


def test_lots_abbreviation_worked_examples() -> None:
    # The cells: 74625 -> 74.6k, 138318 -> 138k, 1.53 M-lot level; a tie rounds up.
    assert [lots(n) for n in (9999, 10000, 12250, 74625, 138318, 999600, 1530000)] == [
        "9999", "10k", "12.3k", "74.6k", "138k", "1M", "1.53M",
    ]  # fmt: skip


def busiest(url: str, d: date) -> str:
    items = httpx.get(f"{url}/footprint/summary", params={"date": d.isoformat()}).json()["items"]
    return str(max(items, key=lambda it: it["v"])["t"])


def wait_footprint(page: Any, ticker: str) -> None:
    page.wait_for_function(
        "(t) => { const el = document.querySelector('#footprint-chart');"
        " return el.dataset.ticker === t && el.dataset.ready === '1'; }",
        arg=ticker,
        timeout=20_000,
    )


def svg_triples(page: Any) -> list[tuple[str, str]]:
    """(bid text, ask text) of every cell showing numbers: footprint.js writes bid, "×", ask."""
    texts: list[str] = page.evaluate(
        "() => Array.from(document.querySelectorAll('#footprint-chart svg text')).map((t) => t.textContent)"
    )
    return [(texts[i - 1], texts[i + 1]) for i, s in enumerate(texts) if s == "×"]


Y_TICKS_JS = """() => echarts.getInstanceByDom(document.querySelector('#footprint-chart'))
  .getModel().getComponent('yAxis', 0).axis.scale.getTicks().map((t) => t.value)"""
Y_EXTENT_JS = """() => echarts.getInstanceByDom(document.querySelector('#footprint-chart'))
  .getModel().getComponent('yAxis', 0).axis.scale.getExtent()"""
DAY_POC_JS = """() => {
  const box = (document.querySelector('#footprint-scroll') || document.querySelector('#footprint-chart'))
    .getBoundingClientRect();
  const outlines = Array.from(document.querySelectorAll('#footprint-chart svg path, #footprint-chart svg rect'))
    .filter((r) => (r.getAttribute('stroke') || '').toLowerCase() === '#f59e0b'
                && (r.getAttribute('fill') || '').toLowerCase() === 'none')
    .map((r) => r.getBoundingClientRect());
  // the day profile sits right of the ladder: its POC outline is the rightmost one
  const poc = outlines.sort((a, b) => b.left - a.left)[0];
  const plain = (r) => ({top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height});
  return {box: plain(box), poc: poc ? plain(poc) : null};
}"""


def test_busiest_ticker_footprint_shows_its_largest_cells_and_the_day_profile(
    browser: Any,  # noqa: F811
    market: tuple[str, Lake],
) -> None:
    url, _ = market
    ticker = busiest(url, FRIDAY)
    api = httpx.get(f"{url}/footprint-raw-hist", params={"kode": ticker, "date": FRIDAY.isoformat()}).json()
    with page_at(browser, f"{url}/?date={FRIDAY.isoformat()}&ticker={ticker}") as (page, errors):
        wait_footprint(page, ticker)
        first = page.evaluate("window.__footprint.first")
        in_view = [c for c in api["candles"][first:] if c["levels"]]
        assert in_view, "the default zoom shows bars with levels"
        # The minute in view with the day's biggest cell, and its three largest cells.
        minute = max(in_view, key=lambda c: max(lv["bv"] + lv["av"] for lv in c["levels"]))
        top3 = sorted(minute["levels"], key=lambda lv: lv["bv"] + lv["av"], reverse=True)[:3]
        assert max(lv["bv"] + lv["av"] for lv in top3) >= 10_000  # a real test of the big numbers
        drawn = svg_triples(page)
        for lv in top3:
            assert (lots(lv["av"]), lots(lv["bv"])) in drawn, (lv, minute["t0"])

        # The day profile's largest level (its POC) is on the price axis and inside the visible box.
        prof = api["profile"]
        assert max(prof["levels"], key=lambda lv: lv["bv"] + lv["av"])["p"] == prof["poc"]
        lo, hi = page.evaluate(Y_EXTENT_JS)
        assert lo <= prof["poc"] <= hi
        assert lo <= min(lv["p"] for lv in prof["levels"]) and max(lv["p"] for lv in prof["levels"]) <= hi
        page.locator("#footprint-panel").scroll_into_view_if_needed()
        where = page.evaluate(DAY_POC_JS)
        poc, box = where["poc"], where["box"]
        assert poc is not None and poc["height"] > 0
        assert box["top"] <= poc["top"] and poc["bottom"] <= box["bottom"], where

        # Gridlines only on real IDX ticks of their price.
        grid = page.evaluate(Y_TICKS_JS)
        assert grid and all(v == int(v) and int(v) % tick_size(int(v)) == 0 for v in grid), grid

        # Every panel has a scale: the CVD panel's two axes are labelled.
        cvd_labels = page.evaluate(
            "() => Array.from(document.querySelectorAll('#footprint-cvd svg text')).map((t) => t.textContent)"
        )
        assert "CVD" in cvd_labels and "Δ per bar" in cvd_labels

        # Auction minutes are drawn as such (shaded and labelled, their unsided lots shown).
        auction = [i for i, ph in enumerate(api["phases"]) if ph == "pre-close"]
        assert auction and api["candles"][auction[0]]["levels"] == []
        texts = page.evaluate(
            "() => Array.from(document.querySelectorAll('#footprint-chart svg text')).map((t) => t.textContent)"
        )
        assert "pre-close auction" in texts
        c = api["candles"][auction[0]]
        assert f"auction {lots(c['vol'])}" in texts
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_busiest_1m.png"))
        assert errors == []


def test_one_tick_stock_gridlines_are_integers(browser: Any, market: tuple[str, Lake]) -> None:  # noqa: F811
    """The simulated 1-tick name (priced under 200 IDR, read/profile.py) grids on integers."""
    url, _ = market
    items = httpx.get(f"{url}/footprint/summary", params={"date": FRIDAY.isoformat()}).json()["items"]
    one_tick = [it for it in items if tick_size(it["h"]) == 1]
    assert one_tick, "the simulated universe has a stock priced under 200"
    ticker = max(one_tick, key=lambda it: it["v"])["t"]
    with page_at(browser, f"{url}/?date={FRIDAY.isoformat()}&ticker={ticker}") as (page, errors):
        wait_footprint(page, ticker)
        grid = page.evaluate(Y_TICKS_JS)
        assert len(grid) >= 3 and all(v == int(v) for v in grid), grid
        page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_one_tick.png"))
        assert errors == []


def test_narrow_one_tick_day_gets_no_half_tick_gridlines(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """The issue's GOTO case: a 1-IDR-tick stock trading 61-62 all day. A value axis fitted to
    that range puts lines on 61.5 / 62.5; there is no such price."""
    lake = Lake(str(tmp_path / "lake"))
    t0 = int(datetime(2026, 2, 6, 9, 0, tzinfo=keys.WIB).timestamp() * 1000)
    candles = []
    for m in range(40):
        p = 61 + m % 2  # 61, 62: one level a minute
        lv = {"p": p, "bv": 50_000 + 1_000 * m, "av": 20_000}
        candles.append({"t0": t0 + m * 60_000, "ohlc": {"o": p, "h": p, "l": p, "c": p},
                        "vol": lv["bv"] + lv["av"], "delta": lv["bv"] - lv["av"], "levels": [lv]})  # fmt: skip
    lake.write_many(hour_files("GOTO", candles))
    # No warehouse: the API draws from the lake's hour files (reads.raw_hist).
    settings = Settings(lake=lake.root, warehouse=f"duckdb:{tmp_path / 'none.duckdb'}")
    with serve(create_app(settings, clock=lambda: NOW)) as url, page_at(browser, url) as (page, errors):
        page.evaluate("window.Footprint.open('GOTO', '2026-02-06', 1)")
        wait_footprint(page, "GOTO")
        grid = page.evaluate(Y_TICKS_JS)
        assert len(grid) >= 3 and all(v == int(v) for v in grid), grid
        page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_goto_narrow.png"))
        assert errors == []


def test_legend_column_help_and_the_rule_that_fired(browser: Any, market: tuple[str, Lake]) -> None:  # noqa: F811
    url, _ = market
    summary = httpx.get(f"{url}/footprint/summary").json()
    with page_at(browser, url) as (page, errors):
        page.wait_for_function(
            "document.querySelector('#legend').dataset.ready === '1' && window.__bubbleCount > 0",
            timeout=20_000,
        )
        # One legend: the four labels and every rule of the core's signal table.
        legend = page.inner_text("#legend")
        for label in ("BREAKOUT", "FALLING", "HEAVY SELL", "WATCHING"):
            assert label in legend
        shown = page.locator("#legend-signals li").all_inner_texts()
        assert [s.split(". ", 1)[1] for s in shown] == [r["text"] for r in scoring.signal_legend()]
        # Column help on the terse columns.
        for key in ("div", "f", "vel", "ctx_net", "sig", "label"):
            assert page.get_attribute(f"#summary-table th[data-key={key}]", "title")
        # Per item the rule that fired with its numbers, as the core's function writes it.
        for it in summary["items"]:
            cell = page.locator(f"#summary-table tbody tr[data-ticker='{it['t']}'] td.why").inner_text()
            assert cell == scoring.fired_rule(it)["text"]
        assert any(it["sig"] != scoring.NEUTRAL for it in summary["items"])
        page.locator("#legend").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "dashboard_legend.png"), full_page=True)
        assert errors == []


def test_weekend_date_shows_the_fallback_banner_naming_friday_and_formula_b(
    browser: Any,  # noqa: F811
    market: tuple[str, Lake],
) -> None:
    url, _ = market
    doc = httpx.get(f"{url}/footprint/summary", params={"date": SATURDAY.isoformat()}).json()
    assert doc["status"] == "FALLBACK" and doc["date"] == FRIDAY.isoformat()
    with page_at(browser, url) as (page, errors):
        page.wait_for_function("document.body.dataset.loaded === '1'", timeout=20_000)
        page.fill("#date-input", SATURDAY.isoformat())
        page.dispatch_event("#date-input", "change")
        page.wait_for_function(
            "document.querySelector('#status-banner').dataset.status === 'FALLBACK'", timeout=20_000
        )
        banner = page.locator("#status-banner")
        text = banner.inner_text()
        assert "you asked for 2026-02-07 (Saturday, not an IDX trading day)" in text
        assert "showing 2026-02-06 (Friday)" in text and "formula B" in text
        page.screenshot(path=str(ARTIFACTS / "dashboard_weekend_fallback.png"), full_page=True)
        assert errors == []


def test_date_field_shows_dates_as_the_page_writes_them(browser: Any, market: tuple[str, Lake]) -> None:  # noqa: F811
    """A type=date field renders in the browser's locale (mm/dd/yyyy, empty or not); the page writes
    2026-02-06. The field is text: empty (= newest) it shows the served date as its hint, filled it
    shows what was typed or picked, ISO."""
    url, _ = market
    with page_at(browser, url) as (page, errors):
        page.wait_for_function("document.body.dataset.loaded === '1'", timeout=20_000)
        assert page.get_attribute("#date-input", "type") == "text"
        assert page.get_attribute("#date-input", "placeholder") == FRIDAY.isoformat()
        page.fill("#date-input", SATURDAY.isoformat())
        page.dispatch_event("#date-input", "change")
        page.wait_for_function("document.body.dataset.loaded === '2'", timeout=20_000)
        assert page.input_value("#date-input") == SATURDAY.isoformat()
        page.locator("header").screenshot(path=str(ARTIFACTS / "dashboard_date_field.png"))
        assert errors == []


def test_session_chip_shows_the_session_state_and_newest_tape(browser: Any, market: tuple[str, Lake]) -> None:  # noqa: F811
    url, lake = market
    # The newest minute of tape, from the lake's footprint files of the newest day.
    newest = 0
    for key in lake.list("footprint/"):
        if keys.parse_footprint_key(key)[1].astimezone(keys.WIB).date() == FRIDAY:
            newest = max([newest, *(json.loads(x)["t0"] for x in lake.read_bytes(key).decode().splitlines())])
    wib = datetime.fromtimestamp(newest / 1000, tz=timezone.utc).astimezone(keys.WIB).strftime("%H:%M")
    with page_at(browser, url) as (page, errors):
        page.wait_for_function("window.__session !== undefined", timeout=20_000)
        chip = page.locator("#session-chip")
        assert chip.get_attribute("data-state") == idx_calendar.session_state(NOW) == "session 1"
        assert chip.inner_text() == f"session 1 · tape {FRIDAY.isoformat()} {wib} WIB"
        chip.screenshot(path=str(ARTIFACTS / "session_chip.png"))
        assert errors == []


def test_session_states_over_a_day() -> None:
    """Each phase of SPEC §12 by its WIB start (Friday's long break included)."""
    by: dict[str, list[str]] = defaultdict(list)
    for d, hm in [
        (date(2026, 2, 5), t) for t in ("08:50", "09:00", "12:00", "13:30", "15:50", "16:00", "16:16")
    ] + [
        (date(2026, 2, 6), "11:45"),
        (date(2026, 2, 7), "10:00"),
    ]:
        at = datetime.combine(d, datetime.strptime(hm, "%H:%M").time(), keys.WIB)
        by[idx_calendar.session_state(at)].append(f"{d.isoformat()} {hm}")
    assert dict(by) == {
        "pre-open": ["2026-02-05 08:50"],
        "session 1": ["2026-02-05 09:00"],
        "lunch": ["2026-02-05 12:00", "2026-02-06 11:45"],
        "session 2": ["2026-02-05 13:30"],
        "pre-close": ["2026-02-05 15:50"],
        "post": ["2026-02-05 16:00"],
        "closed": ["2026-02-05 16:16", "2026-02-07 10:00"],
    }
