"""`orderflow scan` / `GET /integrity-scan` (issue 19): exactly the planted gaps, none on a clean lake.

The lake is a real simulated market (tape + broker summaries) built through the real footprint
layer and warehouse load; the gaps are planted by deleting what each layer wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.footprint import manifest as footprint_manifest
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.read import scan
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import load
from orderflow_pipeline.warehouse.schema import ensure_schema

DAYS = idx_calendar.trading_days("2026-02-02", "2026-02-04")  # Mon..Wed, three sessions
NOW = datetime(2026, 2, 5, 3, 0, tzinfo=timezone.utc)


def _build(root: Path) -> tuple[Lake, str]:
    lake = Lake(str(root / "lake"))
    simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=6, seed=3)
    db = str(root / "warehouse.duckdb")
    con = duckdb.connect(db)
    ensure_schema(con)
    for d in DAYS:
        build_footprint(lake, d)
        load.consolidate(lake, con, d)
    con.close()
    return lake, db


def _tickers(lake: Lake) -> list[str]:
    return sorted({k.split("/")[1] for k in lake.list("footprint/")})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan")
    _build(root)
    return root


@pytest.fixture
def built(pristine: Path, tmp_path: Path) -> tuple[Lake, str, str]:
    """A private copy of the built lake and warehouse (tests plant gaps in it)."""
    shutil.copytree(pristine, tmp_path / "w")
    lake, db = Lake(str(tmp_path / "w" / "lake")), str(tmp_path / "w" / "warehouse.duckdb")
    # The most liquid name: it trades in every hour of every session.
    ticker = _tickers(lake)[0]
    return lake, db, ticker


def _scan(lake: Lake, db: str, ticker: str) -> scan.ScanReport:
    return scan.scan(lake, db, ticker, DAYS[-1], days=10)


def _hour_files(lake: Lake, ticker: str, d: date) -> list[str]:
    return [k for k in (keys.footprint_key(ticker, h) for h in keys.footprint_hours_utc(d)) if lake.exists(k)]


def test_clean_lake_has_no_gaps(built: tuple[Lake, str, str]) -> None:
    lake, db, ticker = built
    report = _scan(lake, db, ticker)
    assert report["gaps"] == []
    # The window is the 10 sessions ending on DAYS[-1]; only DAYS have tape.
    assert report["to"] == DAYS[-1].isoformat() and report["days"] == 10
    assert report["from"] == idx_calendar.previous_sessions(DAYS[-1], 9)[-1].isoformat()


def test_scan_finds_exactly_the_planted_gaps(built: tuple[Lake, str, str]) -> None:
    lake, db, ticker = built
    d0, d1, d2 = DAYS
    # 1. delete one hour file of d0 (its warehouse rows stay: a footprint gap only)
    gone = _hour_files(lake, ticker, d0)[1]
    gone_hour = keys.parse_footprint_key(gone)[1]
    lake.delete(gone)
    # 2. delete the ticker's warehouse rows of one hour of d1 (its hour file stays)
    wh_key = _hour_files(lake, ticker, d1)[2]
    wh_hour_ms = int(keys.parse_footprint_key(wh_key)[1].timestamp() * 1000)
    con = duckdb.connect(db)
    n_rows = con.execute(
        "SELECT count(*) FROM footprint_1m WHERE ticker = ? AND time_key // 3600000 * 3600000 = ?",
        [ticker, wh_hour_ms],
    ).fetchone()[0]  # type: ignore[index]
    con.execute(
        "DELETE FROM footprint_1m WHERE ticker = ? AND time_key // 3600000 * 3600000 = ?",
        [ticker, wh_hour_ms],
    )
    con.close()
    assert n_rows > 0
    # 3. delete the broker summary of d2
    lake.delete(keys.broksum_key(ticker, d2))

    gaps = _scan(lake, db, ticker)["gaps"]
    assert [(g["date"], g["layer"]) for g in gaps] == [
        (d0.isoformat(), "footprint"),
        (d1.isoformat(), "warehouse"),
        (d2.isoformat(), "broksum"),
    ]
    assert f"UTC hour(s) {gone_hour:%H} " in gaps[0]["detail"]
    assert gaps[1]["detail"].startswith(f"{n_rows} of ")
    assert keys.broksum_key(ticker, d2) in gaps[2]["detail"]
    # Another ticker is untouched.
    other = _tickers(lake)[1]
    assert _scan(lake, db, other)["gaps"] == []


def test_tape_hours_without_a_manifest_equal_the_manifests(built: tuple[Lake, str, str]) -> None:
    """An unbuilt date (no footprint manifest) is scanned by parsing the tape: the same hours."""
    lake, _, ticker = built
    d = DAYS[1]
    objects = tape_objects(lake, d)
    from_manifest = scan.tape_hours(lake, d, ticker, objects)
    lake.delete(footprint_manifest.key(d))
    assert scan.tape_hours(lake, d, ticker, objects) == from_manifest
    assert len(from_manifest) == len(_hour_files(lake, ticker, d)) > 0


def test_no_warehouse_means_every_date_is_a_warehouse_gap(built: tuple[Lake, str, str]) -> None:
    lake, _, ticker = built
    gaps = scan.scan(lake, str(Path(lake.root).parent / "absent.duckdb"), ticker, DAYS[-1], days=3)["gaps"]
    assert [(g["date"], g["layer"]) for g in gaps] == [(d.isoformat(), "warehouse") for d in DAYS]


def test_cli_and_endpoint_print_the_same_report(built: tuple[Lake, str, str]) -> None:
    lake, db, ticker = built
    lake.delete(keys.broksum_key(ticker, DAYS[0]))
    env = {**os.environ, "ORDERFLOW_LAKE": lake.root, "ORDERFLOW_DUCKDB": db}
    cmd = [sys.executable, "-m", "orderflow_pipeline.cli", "scan", "--ticker", ticker, "--days", "5"]
    out = subprocess.run(
        [*cmd, "--to", DAYS[-1].isoformat()], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1, out.stderr
    cli_report = json.loads(out.stdout)
    client = TestClient(create_app(Settings(lake=lake.root, warehouse=f"duckdb:{db}"), clock=lambda: NOW))
    r = client.get("/integrity-scan", params={"ticker": ticker, "days": 5, "to": DAYS[-1].isoformat()})
    assert r.status_code == 200
    assert r.json() == cli_report
    assert [g["layer"] for g in cli_report["gaps"]] == ["broksum"]
    # `to` defaults to today (WIB) from the app's clock: 2026-02-05 is a Thursday session
    assert client.get("/integrity-scan", params={"ticker": ticker, "days": 5}).json()["to"] == "2026-02-05"
    # clean ticker: exit 0
    other = _tickers(lake)[1]
    ok = subprocess.run(
        [sys.executable, "-m", "orderflow_pipeline.cli", "scan", "--ticker", other, "--to", DAYS[-1].isoformat()],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0 and json.loads(ok.stdout)["gaps"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ticker": "bbri"},
        {"ticker": "BBRI", "days": 0},
        {"ticker": "BBRI", "days": 367},
        {"ticker": "BBRI", "days": "x"},
        {"ticker": "BBRI", "to": "2026-13-01"},
    ],
)
def test_integrity_scan_bad_input_is_400(tmp_path: Path, params: dict[str, object]) -> None:
    client = TestClient(
        create_app(Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'x.duckdb'}"))
    )
    r = client.get("/integrity-scan", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request"


def test_integrity_scan_while_a_writer_holds_the_warehouse_is_503(built: tuple[Lake, str, str]) -> None:
    from test_api import busy_writer, release

    lake, db, ticker = built
    proc = busy_writer(db)
    try:
        client = TestClient(create_app(Settings(lake=lake.root, warehouse=f"duckdb:{db}"), clock=lambda: NOW))
        r = client.get("/integrity-scan", params={"ticker": ticker, "days": 3, "to": DAYS[-1].isoformat()})
    finally:
        release(proc)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.json()["error"] == "warehouse_busy"


def test_integrity_scan_of_an_unknown_ticker_is_404_not_a_clean_report(built: tuple[Lake, str, str]) -> None:
    # Same rule as `orderflow scan`: no gap because nothing knows the ticker is a typo, not "clean".
    lake, db, ticker = built
    client = TestClient(create_app(Settings(lake=lake.root, warehouse=f"duckdb:{db}"), clock=lambda: NOW))
    r = client.get("/integrity-scan", params={"ticker": "ZZZZ", "days": 3, "to": DAYS[-1].isoformat()})
    assert r.status_code == 404, r.text
    assert "unknown ticker ZZZZ" in r.json()["detail"]
    # a ticker the lake knows still answers 200
    ok = client.get("/integrity-scan", params={"ticker": ticker, "days": 3, "to": DAYS[-1].isoformat()})
    assert ok.status_code == 200 and ok.json()["gaps"] == []
