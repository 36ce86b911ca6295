"""The dashboard's outcomes panel (issue 27) in real headless Chromium: net-of-costs figures, the
Benjamini–Hochberg p and the two halves, exactly the API's, in the dashboard's liquid view by
default and for every instrument after one click on the liquid toggle.

A simulated market (tape -> footprint -> warehouse -> summary -> outcomes, the real layers) with
the liquidity floor set at the median traded value, so that the liquid view keeps about half of
the items and its report differs from the full one. Expected values are the API's bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import httpx
import pytest
from test_dashboard_browser import CHROMIUM, browser, build_layers, page_at, serve, shot  # noqa: F401 - browser is a fixture

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers import outcomes
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import queries

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make browser)"),
]

DAYS = idx_calendar.trading_days("2026-02-18", "2026-03-02")  # 9 sessions
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # 19:00 WIB: the last session is closed


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("outcomes_browser")
    lake = Lake(str(root / "lake"))
    simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=16, seed=11, trade_scale=0.05)
    wh = f"duckdb:{root / 'warehouse.duckdb'}"
    build_layers(lake, Settings(lake=lake.root, warehouse=wh), DAYS, NOW)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        for d in DAYS:
            outcomes.build_outcomes(lake, con, d)
        floor = int(median(queries.traded_values(con, DAYS[0], DAYS[-1]).values()))
    finally:
        con.close()
    settings = Settings(lake=lake.root, warehouse=wh, min_traded_value=floor, liquid_kinds=("share",))
    with serve(create_app(settings, clock=lambda: NOW)) as url:
        yield url


def ret(v: float | None) -> str:
    return "–" if v is None else ("+" if v > 0 else "") + f"{v:.3f} %"


def value(v: str) -> float | None:
    return None if v == "" else float(v)


def page_rows(page: Any) -> dict[tuple[str, str], dict[str, tuple[str, float | None]]]:
    """(signal, horizon) -> column class -> (text, data-v) of the outcomes table."""
    got = page.evaluate(
        """() => [...document.querySelectorAll('#outcomes-table tbody tr')].map(tr => ({
             key: [tr.dataset.signal, tr.dataset.horizon],
             cells: Object.fromEntries([...tr.querySelectorAll('td[data-v]')].map(
               td => [td.className.split(' ')[0], [td.textContent, td.dataset.v]]))}))"""
    )
    return {(r["key"][0], r["key"][1]): {k: (t, value(v)) for k, (t, v) in r["cells"].items()} for r in got}


def expected(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, float | None]]:
    out = {}
    for line in [body["baseline"], *body["families"], *body["signals"]]:
        for h, fig in line["horizons"].items():
            out[(line["signal"], h)] = {
                "net-mean": fig["net"]["mean"], "p-bh": fig["net"]["p_bh"], "gross-mean": fig["gross"]["mean"],
                "first-mean": fig["first"]["net"]["mean"], "second-mean": fig["second"]["net"]["mean"],
                "first-t": fig["first"]["net"]["t"], "second-t": fig["second"]["net"]["t"],
                "n": fig["net"]["count"], "at-limit": fig["at_limit"],
            }  # fmt: skip
    return out


def assert_page_is_the_api(page: Any, body: dict[str, Any]) -> None:
    got, want = page_rows(page), expected(body)
    assert set(got) == set(want) and len(want) >= 6
    for key, cols in want.items():
        for col, v in cols.items():
            assert got[key][col][1] == v, (key, col, got[key][col], v)
        assert got[key]["net-mean"][0] == ret(cols["net-mean"]), key
        p = cols["p-bh"]
        assert got[key]["p-bh"][0] == ("–" if p is None else f"{p:.4f}"), key
    assert body["verdict"] in page.locator("#outcomes-status").inner_text()


def test_outcomes_panel_shows_the_apis_net_figures_bh_p_and_halves_in_the_liquid_view(
    browser: Any,  # noqa: F811 - the fixture imported above
    market: str,
) -> None:
    liquid = httpx.get(f"{market}/signals/outcomes", params={"days": 60, "liquid": "true"}).json()
    full = httpx.get(f"{market}/signals/outcomes", params={"days": 60}).json()
    assert liquid["status"] == full["status"] == "OK"
    n_liquid, n_full = (b["baseline"]["horizons"]["ret_next_cc"]["net"]["count"] for b in (liquid, full))
    assert 0 < n_liquid < n_full  # the liquid view is a real subset: the page must pick the right one
    # the net figures are not the gross ones (costs applied) and the corrected p are not the raw p
    cc = full["baseline"]["horizons"]["ret_next_cc"]
    assert cc["net"]["mean"] < cc["gross"]["mean"] and cc["net"]["p_bh"] >= cc["net"]["p"]

    with page_at(browser, market) as (page, errors):
        page.wait_for_function(
            "document.querySelector('#outcomes-table').dataset.ready === '1' && "
            "document.querySelector('#outcomes-table').dataset.liquid === '1'",
            timeout=20_000,
        )
        assert_page_is_the_api(page, liquid)
        assert "liquid view" in page.locator("#outcomes-status").inner_text()
        shot(page, "outcomes_liquid.png")

        page.locator("#liquid-toggle").click()  # every instrument: the panel follows
        page.wait_for_function(
            "document.querySelector('#outcomes-table').dataset.ready === '1' && "
            "document.querySelector('#outcomes-table').dataset.liquid === '0'",
            timeout=20_000,
        )
        assert_page_is_the_api(page, full)
        assert not errors, errors
