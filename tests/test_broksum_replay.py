"""Acceptance (issue 18): `fetch-broksum` against the replay server writes files that give the
same `daily_features` as the originals.

Real parts only: `orderflow replay-server` as its own process on a loopback port (a real
WebSocket server speaking ../shared/IPOT.md), the fetcher's real client, two real lakes and two
real DuckDB files. The original lake holds 20 simulated sessions of 6 tickers with the real IPOT
files of BBRI / BBCA / TLKM (2026-01-19..22) laid over them. Every date's summaries are fetched
from the server into an empty lake — one date through the CLI with no `--tickers` (the tickers
come from that date's tape) — and `build_daily_features` over both lakes gives identical rows.

What the round trip cannot keep (and daily_features does not read): per-broker odd-lot shares
(the server rebuilds shares from lots, so some averages differ by a rupiah) and the summary's
`raw` row; asserted below so a change there is seen.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL, free_port, wait_port

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers import smart_money as sm
from orderflow_pipeline.simulator.run import simulate_range
from orderflow_pipeline.sources.ipot.broksum.fetch import FetchConfig, fetch_broksum
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.keys import broksum_key
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.schema import ensure_schema

START, END = date(2026, 1, 2), date(2026, 1, 30)
DATES = idx_calendar.trading_days(START, END)
CLI_DATE = date(2026, 1, 27)  # fetched through the CLI, tickers from the tape
REAL_DATES = ("2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22")


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("original")))
    simulate_range(lake, START, END, n_tickers=6, seed=3)
    for path in sorted((REAL / "raw-broksum").glob("*/*.json")):
        lake.write_bytes(broksum_key(path.parent.name, path.stem), path.read_bytes())
    return lake


@pytest.fixture(scope="module")
def server(original: Lake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path_factory.mktemp("replay") / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow_pipeline.cli", "replay-server", "--date", CLI_DATE.isoformat()]
        + ["--port", str(port), "--speed", "0"],
        env={**os.environ, "ORDERFLOW_LAKE": original.root},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, timeout=60)
        yield f"ws://127.0.0.1:{port}/socketcluster/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def features(lake: Lake, db: Path) -> list[tuple[Any, ...]]:
    con = duck.connect(str(db))
    try:
        ensure_schema(con)
        res = sm.build_daily_features(lake, con, DATES)
        assert res.quarantined == 0, res.quarantined_files
        rows = con.execute(
            "SELECT date, ticker, state, score, z_effort, z_result, z_ngr, z_elas, metrics_json "
            "FROM daily_features ORDER BY date, ticker"
        ).fetchall()
    finally:
        con.close()
    return rows


def test_fetched_summaries_give_the_same_daily_features(original: Lake, server: str, tmp_path: Path) -> None:
    fetched = Lake(str(tmp_path / "fetched"))
    cfg = FetchConfig(url=server, concurrency=3, retries=1, backoff_s=0.05)
    by_date: dict[str, list[str]] = {}
    for key in original.list("raw-broksum/"):
        by_date.setdefault(key.rsplit("/", 1)[-1][:-5], []).append(key.split("/")[1])
    for d in DATES:
        if d == CLI_DATE:
            continue
        res = fetch_broksum(fetched, d, by_date[d.isoformat()], cfg)
        assert res.ok and len(res.written) == len(by_date[d.isoformat()]), res.as_dict()

    # One date through the CLI, tickers from its tape (the fetched lake has no footprint yet).
    for key, blob in original.cat_many(list(inventory.tape_objects(original, CLI_DATE))).items():
        fetched.write_bytes(key, blob)
    proc = subprocess.run(
        [sys.executable, "-m", "orderflow_pipeline.cli", "fetch-broksum", "--date", CLI_DATE.isoformat()]
        + ["--url", server, "--retries", "1"],
        env={**os.environ, "ORDERFLOW_LAKE": fetched.root},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tickers"] == len(by_date[CLI_DATE.isoformat()]) and out["written"] == out["tickers"], out

    assert sorted(fetched.list("raw-broksum/")) == sorted(original.list("raw-broksum/"))
    a = features(original, tmp_path / "a.duckdb")
    b = features(fetched, tmp_path / "b.duckdb")
    assert len(a) > 100 and any(r[6] is not None for r in a)  # z values exist: a real comparison
    assert b == a

    # The real files come back with every field daily_features reads unchanged.
    for t in ("BBRI", "BBCA"):
        for d in REAL_DATES:
            x = json.loads((REAL / "raw-broksum" / t / f"{d}.json").read_bytes())
            y = json.loads(fetched.read_bytes(broksum_key(t, d)))
            assert y["data"]["bandar_detector"] == x["data"]["bandar_detector"]
            for side, drop in (
                ("brokers_buy", "netbs_buy_avg_price"),
                ("brokers_sell", "netbs_sell_avg_price"),
            ):
                strip = [{k: v for k, v in r.items() if k != drop} for r in x["data"]["broker_summary"][side]]
                assert [
                    {k: v for k, v in r.items() if k != drop} for r in y["data"]["broker_summary"][side]
                ] == strip


def test_unknown_ticker_fails_after_retries_and_a_good_file_is_kept(
    original: Lake, server: str, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    good = (REAL / "raw-broksum" / "TLKM" / "2026-01-21.json").read_bytes()
    lake.write_bytes(broksum_key("TLKM", "2026-01-21"), good)
    shutil.rmtree(Path(original.root) / "raw-broksum" / "TLKM", ignore_errors=False)
    try:
        res = fetch_broksum(
            lake, "2026-01-21", ["TLKM", "ZZZZ", "BBRI"], FetchConfig(url=server, retries=2, backoff_s=0.05)
        )
    finally:
        for path in sorted((REAL / "raw-broksum" / "TLKM").glob("*.json")):
            original.write_bytes(broksum_key("TLKM", path.stem), path.read_bytes())
    # The server now answers TLKM and ZZZZ with zero rows: both retried twice, then reported.
    assert sorted(res.failed) == ["TLKM", "ZZZZ"] and res.retried == 4, res.as_dict()
    assert "empty answer" in res.failed["ZZZZ"]
    assert res.written == ["BBRI"]
    assert lake.read_bytes(broksum_key("TLKM", "2026-01-21")) == good
