"""`GET /signal` and `GET /range` (issue 19).

`/signal` is checked against the summary the real pipeline wrote (simulated tape -> footprint ->
summary); `/range` against a plain-Python sum over the real IPOT broker summaries of
fixtures/real/raw-broksum (copied into a temp lake; the fixtures are never edited).
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.layers.summary.build import build_summary
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

D1, D2 = date(2026, 2, 2), date(2026, 2, 3)
NOW = datetime(2026, 2, 3, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def summary_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    root = tmp_path_factory.mktemp("signal")
    lake = Lake(str(root / "lake"))
    simulate_range(lake, D1, D2, n_tickers=6, seed=5)
    docs = {}
    for d in (D1, D2):
        build_footprint(lake, d)
        docs[d.isoformat()] = build_summary(lake, None, d, now=NOW)
    return Settings(lake=lake.root, warehouse=f"duckdb:{root / 'none.duckdb'}"), docs


def test_signal_equals_the_summary_item(summary_world: tuple[Settings, dict[str, Any]]) -> None:
    settings, docs = summary_world
    client = TestClient(create_app(settings, clock=lambda: NOW))
    newest = docs[D2.isoformat()]
    assert newest["items"]
    for item in newest["items"]:
        r = client.get("/signal", params={"kode": item["t"]})
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "OK", "date": D2.isoformat(), "source": "lake",
                            "ctx_date": newest["ctx_date"], "item": item}  # fmt: skip
    older = docs[D1.isoformat()]["items"][-1]
    r = client.get("/signal", params={"kode": older["t"], "date": D1.isoformat()})
    assert r.json()["item"] == older and r.json()["date"] == D1.isoformat()


def test_signal_404_and_400(summary_world: tuple[Settings, dict[str, Any]]) -> None:
    settings, docs = summary_world
    client = TestClient(create_app(settings, clock=lambda: NOW))
    r = client.get("/signal", params={"kode": "ZZZZ"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert "ZZZZ has no item in the summary of 2026-02-03" in r.json()["detail"]
    # A date without its own summary: 404, not an earlier session's item.
    t = docs[D2.isoformat()]["items"][0]["t"]
    r = client.get("/signal", params={"kode": t, "date": "2026-02-04"})
    assert r.status_code == 404 and "there is no summary of 2026-02-04" in r.json()["detail"]
    for params in ({}, {"kode": "bbri"}, {"kode": "BBRI", "date": "2026-02-30"}):
        assert client.get("/signal", params=params).status_code == 400


# -- /range over the real broker summaries ---------------------------------------------------------


@pytest.fixture(scope="module")
def broksum_lake(tmp_path_factory: pytest.TempPathFactory, real: Path) -> Settings:
    root = tmp_path_factory.mktemp("range")
    shutil.copytree(real / "raw-broksum", root / "lake" / "raw-broksum")
    return Settings(lake=str(root / "lake"), warehouse=f"duckdb:{root / 'none.duckdb'}")


def plain_sum(real: Path, symbol: str, start: str, end: str) -> dict[str, Any]:
    """The expected answer, written out plainly: every file of the symbol dated in range."""
    brokers: dict[str, dict[str, Any]] = {}
    sessions = 0
    for f in sorted((real / "raw-broksum" / symbol).glob("*.json")):
        if not start <= f.stem <= end:
            continue
        data = json.loads(f.read_text())["data"]
        sessions += 1
        for r in data["broker_summary"]["brokers_buy"]:
            b = brokers.setdefault(r["netbs_broker_code"], {"bval": 0, "sval": 0, "blot": 0, "slot": 0})
            b["bval"] += int(r["bval"])
            b["blot"] += int(r["blot"])
            b["type"] = r["type"]
        for r in data["broker_summary"]["brokers_sell"]:
            b = brokers.setdefault(r["netbs_broker_code"], {"bval": 0, "sval": 0, "blot": 0, "slot": 0})
            b["sval"] += int(r["sval"])
            b["slot"] += int(r["slot"])
            b["type"] = r["type"]
    rows = [{"code": c, "type": b["type"], "bval": b["bval"], "sval": b["sval"], "blot": b["blot"],
             "slot": b["slot"], "net": b["bval"] - b["sval"]} for c, b in brokers.items()]  # fmt: skip
    rows.sort(key=lambda r: (-r["net"], r["code"]))
    return {"symbol": symbol, "start": start, "end": end, "sessions": sessions, "brokers": rows}


@pytest.mark.parametrize(
    ("symbol", "start", "end", "sessions"),
    [
        ("BBCA", "2026-01-19", "2026-01-22", 4),
        ("BBRI", "2026-01-20", "2026-01-21", 2),
        ("TLKM", "2026-01-19", "2026-01-22", 3),  # no file for the 22nd: 3 sessions
        ("TLKM", "2026-01-22", "2026-01-22", 0),
    ],
)
def test_range_equals_a_plain_sum_over_the_real_files(
    broksum_lake: Settings, real: Path, symbol: str, start: str, end: str, sessions: int
) -> None:
    r = TestClient(create_app(broksum_lake)).get(
        "/range", params={"symbol": symbol, "start": start, "end": end}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == plain_sum(real, symbol, start, end)
    assert body["sessions"] == sessions
    if sessions:
        nets = [b["net"] for b in body["brokers"]]
        assert nets == sorted(nets, reverse=True) and all(isinstance(n, int) for n in nets)


def test_range_skips_non_trading_and_unreadable_files(broksum_lake: Settings, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    src = Lake(broksum_lake.lake)
    lake.write_bytes(
        keys.broksum_key("BBCA", "2026-01-19"), src.read_bytes(keys.broksum_key("BBCA", "2026-01-19"))
    )
    zero = json.loads(src.read_bytes(keys.broksum_key("BBCA", "2026-01-20")))
    zero["data"]["bandar_detector"]["value"] = "0"
    lake.write_json(keys.broksum_key("BBCA", "2026-01-20"), zero)
    lake.write_bytes(keys.broksum_key("BBCA", "2026-01-21"), b"{not json")
    client = TestClient(create_app(Settings(lake=lake.root, warehouse=f"duckdb:{tmp_path / 'x.duckdb'}")))
    body = client.get("/range", params={"symbol": "BBCA", "start": "2026-01-19", "end": "2026-01-22"}).json()
    one = client.get("/range", params={"symbol": "BBCA", "start": "2026-01-19", "end": "2026-01-19"}).json()
    assert body["sessions"] == 1 and body["brokers"] == one["brokers"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"symbol": "BBCA", "start": "2026-01-19"},
        {"symbol": "bbca", "start": "2026-01-19", "end": "2026-01-22"},
        {"symbol": "BBCA", "start": "2026-01-22", "end": "2026-01-19"},  # reversed
        {"symbol": "BBCA", "start": "2025-01-02", "end": "2026-01-05"},  # 368 days
        {"symbol": "BBCA", "start": "2026-02-30", "end": "2026-03-01"},
    ],
)
def test_range_bad_input_is_400(broksum_lake: Settings, params: dict[str, str]) -> None:
    r = TestClient(create_app(broksum_lake)).get("/range", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request"


def test_range_of_366_days_is_allowed(broksum_lake: Settings) -> None:
    r = TestClient(create_app(broksum_lake)).get(
        "/range", params={"symbol": "BBCA", "start": "2025-01-20", "end": "2026-01-21"}
    )
    assert r.status_code == 200 and r.json()["sessions"] == 3
