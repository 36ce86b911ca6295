"""The dashboard's liquid view (issue 27) in real headless Chromium, on the real tape.

The real sample's raw ranking is led by one-lot prints and structured warrants (delta +100% from a
single buy, sc 0.935). By default the page shows the liquid view — shares above the floor
(Settings.liquidity, served by GET /liquidity) — and one click on the toggle shows every item.
Expected rows come from the API's own summary body and the core Filter, never from app.js.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dashboard_browser import CHROMIUM, browser, build_layers, page_at, serve, shot  # noqa: F401 - browser is a fixture

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary.liquidity import liquid_items
from orderflow_pipeline.storage.lake import Lake

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make browser)"),
]

TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
D = "2026-02-18"
NOW = datetime(2026, 2, 18, 2, 5, tzinfo=timezone.utc)  # 09:05 WIB, five minutes after the tape


@pytest.fixture(scope="module")
def real_market(tmp_path_factory: pytest.TempPathFactory, real: Path) -> Iterator[tuple[str, Settings]]:
    root = tmp_path_factory.mktemp("liquid")
    lake = Lake(str(root / "lake"))
    lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    settings = Settings(lake=lake.root, warehouse=f"duckdb:{root / 'warehouse.duckdb'}")  # default view
    build_layers(lake, settings, [D], NOW)
    with serve(create_app(settings, clock=lambda: NOW)) as url:
        yield url, settings


def rows(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#summary-table tbody td.t").all_inner_texts()]


def test_default_view_is_liquid_shares_and_one_click_shows_all(
    browser: Any,  # noqa: F811 - the fixture imported above
    real_market: tuple[str, Settings],
) -> None:
    url, settings = real_market
    items = httpx.get(f"{url}/footprint/summary").json()["items"]
    assert httpx.get(f"{url}/liquidity").json() == {"min_value": 500_000_000, "kinds": ["share"]}
    liquid = liquid_items(items, settings.liquidity)
    assert [i["t"] for i in liquid] == ["ADRO", "INDS"]  # test_liquidity works their values by hand
    # the raw ranking leads with thin prints: AADI 1 lot, the structured warrant ACESBQCG6A
    assert [(i["t"], i["v"]) for i in items[:2]] == [("AADI", 1), ("ACESBQCG6A", 51)]

    with page_at(browser, url) as (page, errors):
        try:
            # The tape's date is live (NOW is in its session): the page puts the batch summary up,
            # then the live snapshot over it — two loads that can land within one animation frame,
            # so the wait is for the live view on screen, not for exactly one load.
            page.wait_for_function(
                "document.body.dataset.live === 'live' && Number(document.body.dataset.loaded) >= 1",
                timeout=45_000,
            )
        except Exception as e:  # say what the page was doing, not only that it timed out
            state = page.evaluate(
                "JSON.stringify({data: document.body.dataset, chip: document.getElementById('live-chip').textContent,"
                " banner: document.getElementById('status-banner').textContent,"
                " live: window.__live && window.__live.st, now: Date.now()})"
            )
            raise AssertionError(f"the page never loaded: {state}; errors {errors}") from e
        assert rows(page) == ["ADRO", "INDS"]
        assert page.evaluate("window.__bubbleCount") == 2
        assert page.locator("#row-count").inner_text() == f"(2 of {len(items)})"
        toggle = page.locator("#liquid-toggle")
        assert toggle.get_attribute("aria-pressed") == "true"
        assert f"show all ({len(items) - 2} hidden)" in toggle.inner_text()
        shot(page, "dashboard_liquid_default.png")

        toggle.click()  # one click: every item, in the document's ranking
        assert rows(page) == [i["t"] for i in items]
        assert rows(page)[:2] == ["AADI", "ACESBQCG6A"]
        assert page.evaluate("window.__bubbleCount") == len(items)
        assert toggle.get_attribute("aria-pressed") == "false"
        kinds = dict(
            zip(rows(page), page.locator("#summary-table tbody td.ins").all_inner_texts(), strict=True)
        )
        assert kinds["ACESBQCG6A"] == "structured_warrant" and kinds["PJHB-W"] == "warrant"
        shot(page, "dashboard_liquid_all.png")

        toggle.click()  # and back
        assert rows(page) == ["ADRO", "INDS"]
        assert errors == []
