"""The summary's warehouse fast path (SPEC §11, issue 19): taken when the warehouse holds every
ticker the lake has for the date and at least the configured floor, at any market size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import checks as warehouse_checks
from orderflow_pipeline.warehouse import load, queries
from orderflow_pipeline.warehouse.schema import ensure_schema

D = "2026-02-18"
T0 = 1771380000000  # 2026-02-18 09:00 WIB = 02:00 UTC


def _hour(ticker: str, price: int) -> tuple[str, bytes]:
    c = {"t0": T0, "ohlc": {"o": price, "h": price, "l": price, "c": price}, "vol": 10, "delta": 4,
         "levels": [{"p": price, "bv": 7, "av": 3}]}  # fmt: skip
    # an upstream-landed hour file (§6 NDJSON): the warehouse and the summary read it as the footprint's
    return f"footprint/{ticker}/1m/2026/02/18/02.jsonl", json.dumps(c, separators=(",", ":")).encode() + b"\n"


def test_complete_warehouse_is_used_below_200_and_a_missing_ticker_heals(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    for t, p in (("AAAA", 100), ("BBBB", 200), ("PJHB-W", 67)):
        lake.write_bytes(*_hour(t, p))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_schema(con)
    load.consolidate(lake, con, D)
    # 3 of 3 lake tickers, floor 3: the fast path (the old rule wanted 200 tickers)
    cov = queries.coverage(lake, D, queries.ticker_set(con, D), floor=3)
    assert (cov.fast_path, cov.warehouse_tickers, cov.lake_tickers, cov.missing) == (True, 3, 3, ())
    assert summary.build_summary(lake, con, D, min_tickers=3)["source"] == "warehouse"
    # ... but not below the floor
    assert summary.build_summary(lake, con, D, min_tickers=4)["source"] == "lake"
    # a ticker lands in the lake that the warehouse lacks: lake path, and the heal loads it
    lake.write_bytes(*_hour("CCCC", 300))
    cov = queries.coverage(lake, D, queries.ticker_set(con, D), floor=3)
    assert (cov.fast_path, cov.missing) == (False, ("CCCC",))
    doc = summary.build_summary(lake, con, D, min_tickers=3)
    assert doc["source"] == "lake" and sorted(i["t"] for i in doc["items"]) == [
        "AAAA",
        "BBBB",
        "CCCC",
        "PJHB-W",
    ]
    assert queries.ticker_set(con, D) == {"AAAA", "BBBB", "CCCC", "PJHB-W"}
    assert summary.build_summary(lake, con, D, min_tickers=3)["source"] == "warehouse"
    checks = {c.name: c for c in warehouse_checks.checks(lake, con, D, min_tickers=3, fast_path_tickers=3)}
    assert checks["warehouse_fast_path_tickers"].passed
    con.close()


def test_the_demo_summaries_say_source_warehouse(env: dict[str, str]) -> None:
    # 60 simulated tickers (~57 trade a day): below the old 200-ticker rule, above the floor of 50.
    cmd = [sys.executable, "-m", "assets.cli", "demo", "--days", "2", "--tickers", "60"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lake = Lake(env["ORDERFLOW_LAKE"])
    docs = [json.loads(lake.read_bytes(k)) for k in lake.list("features/footprint-summary/")]
    assert len(docs) == 2 and all(doc["count"] >= 50 for doc in docs)
    assert {doc["source"] for doc in docs} == {"warehouse"}
    assert lake.read_json(keys.SUMMARY_LATEST)["source"] == "warehouse"
    assert "source=warehouse" in run.stdout
    assert "warehouse_fast_path_tickers" not in run.stdout  # the WARN no longer fires on every date
