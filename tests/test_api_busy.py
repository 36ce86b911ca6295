"""The 503 of a busy warehouse (issue 29): one sentence, no filesystem path, Retry-After.

Real: another process holds DuckDB's write lock on the warehouse file (`busy_writer`, as a
pipeline run would) while the API is asked for a range, which has no lake fallback.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from test_api import DATES, build_world, busy_writer, release


def test_busy_warehouse_503_says_retry_once_without_a_path(tmp_path: Path) -> None:
    w = build_world(tmp_path, n_tickers=6, summary=False, dates=DATES[-1:])
    db = w.settings.warehouse_target.location
    proc = busy_writer(db)
    try:
        r = TestClient(w.app()).get("/footprint/range", params={"from": DATES[-1].isoformat(),
                                                                "to": DATES[-1].isoformat()})  # fmt: skip
    finally:
        release(proc)
    assert r.status_code == 503
    seconds = r.headers["Retry-After"]
    assert seconds.isdigit() and int(seconds) > 0
    body = r.json()
    assert body == {"error": "warehouse_busy", "detail": f"warehouse busy, retry in {seconds} s"}
    assert db not in r.text and str(tmp_path) not in r.text and Path(db).name not in r.text
    assert r.text.lower().count("retry") == 1
