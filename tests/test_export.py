"""Exports (issue 21): Parquet read back equals the table (API and CLI), the summary as CSV, the
outcome report over HTTP and on the command line. Real lake folder, real DuckDB file, real app."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from test_api import DATES, NEWEST, World, build_world

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers import outcome_report, outcomes
from orderflow_pipeline.read import export

ORDER = {
    "footprint_1m": "date, ticker, time_key",
    "footprint_levels": "date, ticker, time_key, price",
    "daily_features": "date, ticker",
    "signal_outcomes": "date, ticker",
}
COLUMNS = {
    "footprint_1m": "ticker, date, time_key, open, high, low, close, vol, delta, buy_vol, sell_vol, source_key",
    "footprint_levels": "ticker, date, time_key, price, bv, av, source_key",
    "daily_features": "date, ticker, state, score, z_effort, z_result, z_ngr, z_elas, metrics_json, created_at",
    "signal_outcomes": ", ".join(outcomes.COLUMNS),  # the export is the whole row, as the layer names it
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("export_world"), n_tickers=12)
    con = duckdb.connect(w.settings.warehouse_target.location)
    try:
        # daily_features rows (any content will do for a round trip; NULLs included on purpose)
        con.execute(
            """INSERT INTO daily_features SELECT d::DATE, t, 'NEUTRAL', 0.25 * i, NULL, -1.5, 0.5 * i, 2.0,
                      '{"ngr": 0.1}', TIMESTAMP '2026-02-10 12:00:00'
               FROM (VALUES ('2026-02-05', 'T001', 1), ('2026-02-06', 'T001', 2), ('2026-02-06', 'T002', 3),
                            ('2026-02-10', 'T003', 4)) v(d, t, i)"""
        )
        for d in DATES:
            outcomes.build_outcomes(w.lake, con, d)
    finally:
        con.close()
    yield w


def table_rows(path: str, table: str, start: date, end: date, tickers: list[str] | None = None) -> list[Any]:
    con = duckdb.connect(path, read_only=True)
    try:
        where, params = "date BETWEEN ? AND ?", [start, end]
        if tickers:
            where += " AND ticker IN (SELECT unnest(?::VARCHAR[]))"
            params.append(tickers)
        return con.execute(
            f"SELECT {COLUMNS[table]} FROM {table} WHERE {where} ORDER BY {ORDER[table]}", params
        ).fetchall()
    finally:
        con.close()


def parquet_rows(path: Path) -> list[Any]:
    assert pq.read_table(path).num_rows >= 0  # a valid Parquet file for pyarrow too
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall()


@pytest.mark.parametrize("table", list(export.EXPORT_TABLES))
def test_api_parquet_round_trip(world: World, table: str, tmp_path: Path) -> None:
    client = TestClient(world.app())
    r = client.get(f"/export/{table}.parquet", params={"from": "2026-02-05", "to": "2026-02-10"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    out = tmp_path / "x.parquet"
    out.write_bytes(r.content)
    expect = table_rows(world.settings.warehouse_target.location, table, DATES[0], NEWEST)
    assert expect, f"{table} is empty: the round trip would prove nothing"
    assert parquet_rows(out) == expect and int(r.headers["x-rows"]) == len(expect)


def test_api_parquet_filters_dates_and_tickers(world: World, tmp_path: Path) -> None:
    r = TestClient(world.app()).get(
        "/export/footprint_levels.parquet",
        params={"from": "2026-02-06", "to": "2026-02-09", "tickers": "T002,T001"},
    )
    out = tmp_path / "lv.parquet"
    out.write_bytes(r.content)
    got = parquet_rows(out)
    assert got == table_rows(
        world.settings.warehouse_target.location, "footprint_levels", DATES[1], DATES[2], ["T001", "T002"]
    )
    assert {row[0] for row in got} == {"T001", "T002"} and {row[1] for row in got} == {DATES[1], DATES[2]}


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/export/ingest_manifest.parquet", {"from": "2026-02-05", "to": "2026-02-10"}, 404, "exportable"),
        ("/export/footprint_1m.parquet", {"from": "2026-02-10", "to": "2026-02-05"}, 400, "after"),
        ("/export/footprint_1m.parquet", {"from": "2026-02-05", "to": "2026-02-10", "tickers": "T1;--"}, 400, "ticker"),
        ("/export/footprint_1m.parquet", {"to": "2026-02-10"}, 400, "from"),
    ],
)  # fmt: skip
def test_api_export_bad_requests(
    world: World, path: str, params: dict[str, str], status: int, needle: str
) -> None:
    r = TestClient(world.app()).get(path, params=params)
    assert r.status_code == status and needle in r.json()["detail"]


def test_api_export_without_a_warehouse_is_404(tmp_path: Path) -> None:
    app = create_app(Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'none.duckdb'}"))
    r = TestClient(app).get("/export/footprint_1m.parquet", params={"from": "2026-02-05", "to": "2026-02-10"})
    assert r.status_code == 404


def test_cli_export_round_trip(world: World, tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    env = {
        **os.environ,
        "ORDERFLOW_DUCKDB": world.settings.warehouse_target.location,
        "ORDERFLOW_LAKE": world.settings.lake,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "orderflow_pipeline.cli", "export", "--table", "footprint_1m", "--from", "2026-02-09",
         "--to", "2026-02-10", "--out", str(out), "--tickers", "T005"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    expect = table_rows(world.settings.warehouse_target.location, "footprint_1m", DATES[2], NEWEST, ["T005"])
    assert json.loads(proc.stdout)["rows"] == len(expect) == 150  # 75 minutes x 2 days
    assert parquet_rows(out) == expect


def test_summary_as_csv(world: World) -> None:
    client = TestClient(world.app())
    doc = client.get("/footprint/summary").json()
    r = client.get("/footprint/summary", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == doc["count"] == 12
    assert [row["t"] for row in rows] == [i["t"] for i in doc["items"]]
    first = doc["items"][0]
    assert (
        rows[0]["date"] == doc["date"]
        and float(rows[0]["sc"]) == first["sc"]
        and rows[0]["sig"] == first["sig"]
    )
    assert rows[0]["ctx_net"] == ("" if first["ctx_net"] is None else str(first["ctx_net"]))
    assert client.get("/footprint/summary", params={"format": "xml"}).status_code == 400


def test_outcomes_report_over_http_and_cli(world: World) -> None:
    body = TestClient(world.app()).get("/signals/outcomes", params={"days": 60}).json()
    con = duckdb.connect(world.settings.warehouse_target.location, read_only=True)
    try:
        assert body == json.loads(json.dumps(outcome_report.rolling_report(con, days=60)))
    finally:
        con.close()
    assert body["to"] == NEWEST.isoformat() and body["baseline"]["signal"] == "NEUTRAL"
    env = {
        **os.environ,
        "ORDERFLOW_DUCKDB": world.settings.warehouse_target.location,
        "ORDERFLOW_LAKE": world.settings.lake,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "orderflow_pipeline.cli", "outcomes", "--days", "60", "--text"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "BUY_FAMILY" in proc.stdout and "NEUTRAL" in proc.stdout
