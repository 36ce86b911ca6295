"""`/docs` and `/redoc` work offline (issue 29): Swagger UI and ReDoc come from the app itself.

FastAPI's default pages load both from a CDN, so without a network they were blank. (a) Every
script and stylesheet the pages name is fetched from the app: 200, non-empty, none absolute.
(b) Debian's headless Chromium with the network off — every host but loopback resolves nowhere
and any proxied request goes to a closed port — renders /docs (Swagger UI's operation blocks) and
/redoc (its operation sections); a screenshot of each goes to tests/artifacts/.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS
from fastapi.testclient import TestClient
from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, serve

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings

DOC_PAGES = ["/docs", "/redoc"]
# Port 9 (discard) is closed on loopback: whatever would go through the proxy fails at once.
OFFLINE_ARGS = [
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


class _Assets(HTMLParser):
    """The URLs of a page's <script src> and <link href>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag == "script" else a.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


def _app(tmp: Path) -> Any:
    return create_app(Settings(lake=str(tmp / "lake"), warehouse=f"duckdb:{tmp / 'warehouse.duckdb'}"))


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_page_assets_come_from_the_app(tmp_path: Path, page: str) -> None:
    client = TestClient(_app(tmp_path))
    r = client.get(page)
    assert r.status_code == 200
    parser = _Assets()
    parser.feed(r.text)
    # the JS bundle, and for Swagger UI its CSS; every page has its favicon
    assert len(parser.urls) >= 2, parser.urls
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    assert "cdn." not in r.text and "fonts.googleapis" not in r.text


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed (make browser)")
def test_docs_render_in_chromium_with_the_network_off(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with serve(_app(tmp_path)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *OFFLINE_ARGS])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requested: list[str] = []
            page.on("request", lambda req: requested.append(req.url))
            # the network really is off for this browser: a public host cannot be reached
            page.goto(f"{url}/health")
            reached = page.evaluate(
                "fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css')"
                ".then(() => true, () => false)"
            )
            assert reached is False
            requested.clear()

            page.goto(f"{url}/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            dom = page.content()
            # Swagger UI's rendered operation block of the summary route (DOM dump, not the spec)
            assert 'id="operations-summary-footprint_summary_footprint_summary_get"' in dom
            assert 'data-path="/footprint/summary"' in dom
            assert page.locator(".opblock").count() >= 10  # one per route of the API
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs-offline.png"), full_page=False)

            page.goto(f"{url}/redoc")
            page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
            assert "/footprint/summary" in page.content()
            page.screenshot(path=str(ARTIFACTS / "redoc-offline.png"), full_page=False)
        finally:
            browser.close()
    # every request of both pages went to the app (blob:/data: are in-page: ReDoc's worker, no image)
    foreign = [
        u
        for u in requested
        if urlsplit(u).scheme not in ("blob", "data") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert foreign == [], foreign
