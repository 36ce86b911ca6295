"""The dashboard's footprint chart in a real headless Chromium (Debian's chromium, as
tests/test_dashboard_browser.py drives it): ladder cells, imbalance marks, each bar's POC and
the day's volume profile are drawn, and what is drawn equals what `/footprint-raw-hist` serves.

The chart uses ECharts' SVG renderer, so the test reads the drawing itself: each ladder cell's
"bid × ask" numbers are <text> elements, imbalance highlights / POC outlines / profile bars are
<rect>s in the colours footprint.js declares. The world is a warehouse + lake of planted candles
with 4-7 price levels a minute and deliberately planted diagonal imbalances (and one stack), so
the counts are not trivially zero.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from conftest import ARTIFACTS
from test_api import NOW, WIB, hour_files, load_warehouse
from test_dashboard_browser import CHROMIUM, browser, page_at, serve  # noqa: F401 - browser is a fixture

from assets.automation.sensors.signal_alerts import dashboard_link
from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import schema

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make browser)"),
]

DAY = date(2026, 2, 10)
REAL_DAY = date(2026, 2, 6)
REAL_BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"  # 60 real minutes, 10:00-10:59 WIB
TICK = 10  # BBRI-like prices 4,000-4,100: IDX tick 10
# footprint.js colours (its `C` table)
IMB_BUY, IMB_SELL, POC = "#16a34a", "#dc2626", "#f59e0b"
PROF_BUY, PROF_SELL, STACK_BUY, STACK_SELL = "#15803d", "#b91c1c", "#4ade80", "#f87171"


def ladder_minute(rng: random.Random, t0: int, mid: int, stack: bool) -> dict[str, Any]:
    """One minute with 4-7 consecutive price levels around `mid`; `stack`: bv >> av one tick
    below on four consecutive prices (a planted stacked buy imbalance)."""
    n = rng.randint(4, 7)
    lo = mid - TICK * rng.randint(1, n - 2)
    levels = []
    for k in range(n):
        p = lo + k * TICK
        bv, av = rng.randint(0, 60), rng.randint(0, 60)
        if stack:
            bv, av = 200 + 10 * k, 5 + k
        elif rng.random() < 0.2:  # a lone buy imbalance against the level below
            bv = 250
        levels.append({"p": p, "bv": bv, "av": av})
    levels = [lv for lv in levels if lv["bv"] + lv["av"] > 0]
    ps = [lv["p"] for lv in levels]
    o, c = rng.choice(ps), rng.choice(ps)
    vol = sum(lv["bv"] + lv["av"] for lv in levels) + rng.randint(0, 20)  # auction lots: no side
    return {"t0": t0, "ohlc": {"o": o, "h": max(ps), "l": min(ps), "c": c}, "vol": vol,
            "delta": sum(lv["bv"] - lv["av"] for lv in levels), "levels": levels}  # fmt: skip


def build_ladder_world(root: Path, real: Path) -> tuple[Settings, list[dict[str, Any]]]:
    rng = random.Random(21)
    lake = Lake(str(root / "lake"))
    settings = Settings(lake=lake.root, warehouse=f"duckdb:{root / 'warehouse.duckdb'}")
    by_ticker: dict[str, list[dict[str, Any]]] = {}
    for t, base in (("BBRI", 4050), ("TLKM", 3000), ("ASII", 5000)):
        mid, out = base, []
        for m in range(30):  # 09:00-09:29 WIB
            t0 = int(datetime(DAY.year, DAY.month, DAY.day, 9, m, tzinfo=WIB).timestamp() * 1000)
            mid = max(base - 60, min(base + 60, mid + TICK * rng.choice([-1, 0, 1])))
            out.append(ladder_minute(rng, t0, mid, stack=(t == "BBRI" and m == 27)))
        by_ticker[t] = out
    objects: dict[str, bytes] = {}
    for t, candles in by_ticker.items():
        objects.update(hour_files(t, candles))
    # ... and the real BBRI hour (SPEC §14), an upstream-landed file of 2026-02-06.
    objects[REAL_BBRI_KEY] = (real / REAL_BBRI_KEY).read_bytes()
    lake.write_many(objects)
    con = duckdb.connect(settings.warehouse_target.location)
    try:
        schema.ensure_schema(con)
        load_warehouse(lake, con, [REAL_DAY, DAY])
        from orderflow_pipeline.layers.summary.build import build_summary

        for d in (REAL_DAY, DAY):
            build_summary(lake, con, d, min_tickers=1, now=NOW)
    finally:
        con.close()
    return settings, by_ticker["BBRI"]


SVG_JS = """() => {
  const svg = document.querySelector('#footprint-chart svg');
  const norm = (v) => (v || '').toLowerCase();
  const rects = Array.from(svg.querySelectorAll('rect, path')).map((r) => ({
    fill: norm(r.getAttribute('fill')), stroke: norm(r.getAttribute('stroke'))}));
  const texts = Array.from(svg.querySelectorAll('text')).map((t) => t.textContent);
  return {rects, texts};
}"""


def cell_pairs(texts: list[str]) -> list[tuple[int, int]]:
    """(bid, ask) of every cell that shows its numbers: footprint.js writes bid, "×", ask."""
    return [(int(texts[i - 1]), int(texts[i + 1])) for i, s in enumerate(texts) if s == "×"]


def wait_ready(page: Any, bar: int) -> None:
    page.wait_for_function(
        f"document.querySelector('#footprint-chart').dataset.ready === '1'"
        f" && document.querySelector('#footprint-chart').dataset.bar === '{bar}'",
        timeout=20_000,
    )


def assert_drawn_equals_served(page: Any, api: dict[str, Any]) -> None:
    """The bars in view (the newest ones, from the initial zoom window on): the SVG holds exactly
    the served ladder, imbalance marks and POCs of those bars, and the served day profile."""
    svg = page.evaluate(SVG_JS)
    first = page.evaluate("window.__footprint.first")
    bars, fps = api["candles"][first:], api["footprint"][first:]
    fills = Counter(r["fill"] for r in svg["rects"])
    strokes = Counter(r["stroke"] for r in svg["rects"] if r["fill"] == "none")

    # Ladder cells: exactly the served (bid=av, ask=bv) of every level of every bar.
    served = Counter((lv["av"], lv["bv"]) for c in bars for lv in c["levels"])
    assert Counter(cell_pairs(svg["texts"])) == served
    assert page.evaluate("window.__footprint.drawn.cells") == sum(served.values())

    # Imbalance marks: one highlight per served imbalance price, per side; stacks as strips.
    assert fills[IMB_BUY] == sum(len(f["imbalances"]["buy"]) for f in fps)
    assert fills[IMB_SELL] == sum(len(f["imbalances"]["sell"]) for f in fps)
    stacks = [s for f in fps for s in f["imbalances"]["stacked"]]
    assert fills[STACK_BUY] == sum(s["side"] == "buy" for s in stacks)
    assert fills[STACK_SELL] == sum(s["side"] == "sell" for s in stacks)

    # Each bar's POC outlined, plus the day profile's POC.
    assert strokes[POC] == sum(f["profile"] is not None for f in fps) + 1

    # Day profile: a red (sell) and a green (buy) bar per served day level with lots on that
    # side; POC / VAH / VAL labelled with the served prices.
    prof = api["profile"]
    assert fills[PROF_BUY] == sum(lv["bv"] > 0 for lv in prof["levels"])
    assert fills[PROF_SELL] == sum(lv["av"] > 0 for lv in prof["levels"])
    labels = " | ".join(svg["texts"])
    for label in (f"POC {prof['poc']}", f"VAH {prof['vah']}", f"VAL {prof['val']}"):
        assert label in labels

    # CVD below: the running sum of the served deltas.
    assert page.evaluate("window.__footprint.cvd") == sum(c["delta"] for c in api["candles"])
    status = page.inner_text("#footprint-status")
    assert f"POC {prof['poc']}" in status and f"source {api['source']}" in status


def test_footprint_chart_draws_the_api_ladder_imbalances_pocs_and_profile(
    browser: Any,  # noqa: F811
    tmp_path: Path,
    real: Path,
) -> None:
    settings, planted = build_ladder_world(tmp_path, real)
    with serve(create_app(settings, clock=lambda: NOW)) as url:
        api15 = httpx.get(
            f"{url}/footprint-raw-hist", params={"kode": "BBRI", "date": "2026-02-10", "bar": 15}
        ).json()
        api1 = httpx.get(f"{url}/footprint-raw-hist", params={"kode": "BBRI", "date": "2026-02-10"}).json()
        assert api1["candles"] == planted and api15["count"] == 2  # 09:00-09:14, 09:15-09:29
        assert api1["imbalances"]["stacked_buy"] >= 1 and api1["imbalances"]["buy"] > 0

        # The link a signal alert carries opens the day and the ticker's footprint.
        with page_at(browser, dashboard_link(url, "2026-02-10", "BBRI")) as (page, errors):
            wait_ready(page, 1)
            assert page.get_attribute("#footprint-chart", "data-ticker") == "BBRI"

            # 15-minute bars: both bars are in view, every cell is wide enough for its numbers.
            page.select_option("#footprint-bar", "15")
            wait_ready(page, 15)
            assert page.evaluate("window.__footprint.first") == 0  # both bars in view
            assert sum(len(f["imbalances"]["buy"]) for f in api15["footprint"]) > 0
            assert_drawn_equals_served(page, api15)
            assert api15["profile"] == api1["profile"]  # the day's profile whatever the bar length
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_15m.png"))

            # 1-minute bars: the zoom window shows the newest minutes; what is drawn is served data.
            page.select_option("#footprint-bar", "1")
            wait_ready(page, 1)
            svg = page.evaluate(SVG_JS)
            pairs = cell_pairs(svg["texts"])
            served1 = Counter((lv["av"], lv["bv"]) for c in api1["candles"] for lv in c["levels"])
            assert pairs and not Counter(pairs) - served1  # every drawn cell is a served level
            last = api1["candles"][-1]["levels"]  # the newest minute is in view
            assert not Counter((lv["av"], lv["bv"]) for lv in last) - Counter(pairs)
            assert page.evaluate("window.__footprint.cvd") == sum(c["delta"] for c in planted)
            page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_1m.png"))

            # A ticker without minutes that day: an empty chart that says so, no error.
            page.evaluate("window.Footprint.open('ZZZZ', '2026-02-10', 15)")
            page.wait_for_function(
                "document.querySelector('#footprint-chart').dataset.ticker === 'ZZZZ'"
                " && document.querySelector('#footprint-chart').dataset.ready === '1'"
            )
            assert page.inner_text("#footprint-status").startswith("0 bars")
            assert page.get_attribute("#footprint-chart", "data-cells") == "0"
            assert page.locator("#js-errors").is_hidden()
            assert errors == []

        # The real BBRI hour at 5 minutes (12 bars; 2 buy and 1 sell imbalances), drawn as served.
        real5 = httpx.get(
            f"{url}/footprint-raw-hist", params={"kode": "BBRI", "date": "2026-02-06", "bar": 5}
        ).json()
        assert real5["count"] == 12 and real5["imbalances"]["buy"] == 2 and real5["imbalances"]["sell"] == 1
        assert sum(c["vol"] for c in real5["candles"]) == sum(
            json.loads(line)["vol"] for line in (real / REAL_BBRI_KEY).read_text().splitlines()
        )
        with page_at(browser, f"{url}/?date=2026-02-06&ticker=BBRI") as (page, errors):
            wait_ready(page, 1)
            page.select_option("#footprint-bar", "5")
            wait_ready(page, 5)
            assert_drawn_equals_served(page, real5)
            page.locator("#footprint-panel").screenshot(path=str(ARTIFACTS / "footprint_real_bbri_5m.png"))
            assert errors == []


def test_outcomes_panel_shows_the_served_report(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """The panel lists the baseline, both families and every signal of GET /signals/outcomes, one
    row per horizon, with the server's net count and hit rate (formatted, never recomputed)."""
    from test_api import DATES, build_world

    from orderflow_pipeline.layers.outcomes import build_outcomes

    world = build_world(tmp_path, n_tickers=40)
    con = duckdb.connect(world.settings.warehouse_target.location)
    try:
        for d in DATES:
            build_outcomes(world.lake, con, d)
    finally:
        con.close()
    with serve(create_app(world.settings, clock=lambda: NOW)) as url:
        with page_at(browser, url) as (page, errors):
            page.wait_for_function(
                "document.querySelector('#outcomes-table').dataset.ready === '1' && "
                "document.querySelector('#outcomes-table').dataset.liquid !== undefined",
                timeout=20_000,
            )
            # the panel follows the dashboard's view (liquid by default, tests/test_outcomes_browser.py)
            params = {"days": 60} | ({"liquid": "true"} if page.evaluate(
                "document.querySelector('#outcomes-table').dataset.liquid") == "1" else {})  # fmt: skip
            report = httpx.get(f"{url}/signals/outcomes", params=params).json()
            lines = [report["baseline"], *report["families"], *report["signals"]]
            # one row per line and horizon, with the server's net count and net hit rate
            want_rows = [(line, h) for line in lines for h in line["horizons"]]
            rows = page.locator("#outcomes-table tbody tr")
            assert rows.count() == len(want_rows) > 0
            for i, (line, h) in enumerate(want_rows):
                cells = rows.nth(i).locator("td").all_inner_texts()
                net = line["horizons"][h]["net"]
                assert cells[0] == line["signal"] and cells[2] == str(net["count"])
                want = "–" if net["hit_rate"] is None else f"{100 * net['hit_rate']:.1f} %"
                assert cells[3] == want
            status = page.inner_text("#outcomes-status")
            assert (report["from"] in status) if report["status"] == "OK" else (report["message"] == status)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("#outcomes-panel").screenshot(path=str(ARTIFACTS / "outcomes_panel.png"))
            assert errors == []
