"""Issue 20's acceptance: two `orderflow materialize` processes — two machines, each with its own
Dagster instance — write different dates into one DuckLake warehouse (catalog in a real
PostgreSQL, Parquet in a moto S3 bucket) at the same time, and the result equals the single-file
DuckDB warehouse's for the same dates.

Dates. daily_features needs 20 sessions of broker history (SPEC §8) and a date's summary takes its
context from the newest earlier date with daily_features rows. So 21 sessions are simulated and a
first run per backend (`--layers features`, dates D0..D1 = sessions 19-20) parses the broker
history and writes D0's and D1's features; then D1 and D2 (session 21) run in full. D2's context
is D1's features, already there before either concurrent run starts — otherwise D2's summary
would depend on whether D1's run had committed yet, on either backend. D1's z-scores have their
full 20-session window; D2's too. The concurrent runs still race on the tables both write (the
universe rows, ingest_runs, daily_features' D1 rewrite beside D2's insert, footprint of both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from conftest import ROOT, make_s3_lake
from dagster import DagsterInstance
from pgserver import PgServer

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.backend import Target, parse_target
from orderflow_pipeline.warehouse.schema import DDL

DAYS = idx_calendar.trading_days("2026-01-05", "2026-02-13")[:21]
D0, D1, D2 = DAYS[-3], DAYS[-2], DAYS[-1]
TICKERS, SEED = 5, 3
# Wall-clock columns (differ between any two runs) and run bookkeeping.
VOLATILE_COLUMNS = {"loaded_at", "created_at", "parsed_at", "updated_at", "started_at", "finished_at"}
SKIP_TABLES = {"ingest_runs", "warehouse_locks"}  # run ids and times; the lock rows
VOLATILE_KEYS = {"generated_at", "checked_at", "created_at", "updated_at", "loaded_at", "parsed_at"}


def _markets(endpoint: str, folder: Path) -> tuple[Lake, Lake]:
    """The same simulated market in two fresh buckets (simulated once locally, then uploaded in
    batches: simulating straight into moto costs ~30 s a copy)."""
    local = Lake(str(folder))
    simulate_range(local, DAYS[0], DAYS[-1], n_tickers=TICKERS, seed=SEED, trade_scale=0.03)
    objects = local.cat_many(local.list_info(""))
    lakes = make_s3_lake(endpoint), make_s3_lake(endpoint)
    for lake in lakes:
        lake.write_many(objects, max_workers=16)
    return lakes


def _env(lake: Lake, endpoint: str, home: Path, warehouse: str, data: str | None) -> dict[str, str]:
    """One machine: its own DAGSTER_HOME (own instance, own duckdb_writer pool), shared lake."""
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(home),
        "ORDERFLOW_LAKE": lake.root,
        "ORDERFLOW_S3_ENDPOINT_URL": endpoint,
        "ORDERFLOW_WAREHOUSE": warehouse,
        # a 5-ticker market: let the summary take its warehouse path (SPEC §11) on both backends
        "ORDERFLOW_MIN_WAREHOUSE_TICKERS": "1",
    }
    env.pop("ORDERFLOW_WAREHOUSE_DATA", None)
    env.pop("ORDERFLOW_DUCKDB", None)
    if data:
        env["ORDERFLOW_WAREHOUSE_DATA"] = data
    return env


def _materialize(env: dict[str, str], d: date, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "assets.cli", "materialize", "--date", d.isoformat(), *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _eod(env: dict[str, str], partition: str) -> subprocess.Popen[str]:
    """The end-of-day assets `orderflow materialize` leaves to their own job (ticker_universe,
    signal_outcomes), through Dagster's own CLI: `--partition D` or `--partition-range A...B`."""
    flag = "--partition-range" if "..." in partition else "--partition"
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "assets.definitions", "-a", "defs",
           "--select", "ticker_universe,signal_outcomes", flag, partition]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:] + err[-5000:]
    return err


def _together(a: subprocess.Popen[str], b: subprocess.Popen[str]) -> bool:
    """Wait for both; whether both were alive at once at some point."""
    both = False
    while a.poll() is None or b.poll() is None:
        both = both or (a.poll() is None and b.poll() is None)
        time.sleep(0.2)
    return both


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:] + err[-5000:]
    assert json.loads(out.strip().splitlines()[-1])["success"] is True
    return err


def _run_window(home: Path) -> tuple[float, float]:
    """(start, end) of the first run recorded in this machine's instance (the materialize)."""
    with DagsterInstance.from_config(str(home)) as instance:
        rec = min(instance.get_run_records(), key=lambda r: r.create_timestamp)
    assert rec.start_time is not None and rec.end_time is not None
    return rec.start_time, rec.end_time


def _tables(target: str | Target) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with duck.reading(target) as con:
        tables = sorted({r[0] for r in con.execute("SHOW TABLES").fetchall()} - SKIP_TABLES)
        assert len(tables) == len(DDL) - len(SKIP_TABLES)
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in VOLATILE_COLUMNS]
            out[t] = con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY ALL").fetchall()
    return out


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in VOLATILE_KEYS}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def _documents(lake: Lake) -> dict[str, Any]:
    """Every JSON document the pipeline wrote (summaries, features, universe), wall-clock fields
    removed; the simulated inputs and DuckLake's own Parquet are not documents."""
    docs: dict[str, Any] = {}
    for key in lake.glob("**/*.json"):
        if key.startswith(("raw-", "warehouse/", "_state/")):
            continue
        docs[key] = _strip(lake.read_json(key))
    return docs


def test_two_machines_write_different_dates_into_ducklake_at_once(
    moto_server: str, postgres_server: PgServer, tmp_path: Path
) -> None:
    dsn = postgres_server.dsn(postgres_server.create_database("wh"))
    lake_a, lake_b = _markets(moto_server, tmp_path / "simulated")
    bucket_a = lake_a.root.split("/")[2]
    data = f"s3://{bucket_a}/ducklake/"
    machine_1 = _env(lake_a, moto_server, tmp_path / "m1", f"ducklake:{dsn}", data)
    machine_2 = _env(lake_a, moto_server, tmp_path / "m2", f"ducklake:{dsn}", data)
    single = _env(lake_b, moto_server, tmp_path / "single", f"duckdb:{tmp_path / 'warehouse.duckdb'}", None)

    # The single-file reference runs beside the DuckLake machines (separate lake, separate warehouse)
    # only to save wall time; each step of it waits for the one before, like a single writer.
    # History on each backend (see the module docstring), from one machine.
    ref = _materialize(single, D0, "--to", D1.isoformat(), "--layers", "features")
    _finish(
        _materialize(machine_1 | _home(tmp_path / "prep"), D0, "--to", D1.isoformat(), "--layers", "features")
    )
    _finish(ref)

    # The two machines, started together. The file's one writer takes both dates in one run.
    started = time.monotonic()
    ref = _materialize(single, D1, "--to", D2.isoformat())
    p1, p2 = _materialize(machine_1, D1), _materialize(machine_2, D2)
    both_alive = _together(p1, p2)
    logs = _finish(p1) + _finish(p2)
    concurrent_s = time.monotonic() - started
    _finish(ref)
    (s1, e1), (s2, e2) = _run_window(tmp_path / "m1"), _run_window(tmp_path / "m2")
    # The Dagster runs themselves overlapped (not just the processes' start-up).
    assert both_alive and max(s1, s2) < min(e1, e2), (s1, e1, s2, e2)

    # Then the end-of-day assets, again at once: both upsert the same universe rows (the lock's
    # conflict and retry). Outcomes of D1 read D2's candles, written by now on both backends.
    ref = _eod(single, f"{D1}...{D2}")
    q1, q2 = _eod(machine_1, D1.isoformat()), _eod(machine_2, D2.isoformat())
    assert _together(q1, q2)
    logs += _done(q1) + _done(q2)
    _done(ref)

    lake_tables = _tables(parse_target(f"ducklake:{dsn}", endpoint_url=moto_server))
    file_tables = _tables(single["ORDERFLOW_WAREHOUSE"])
    for table, rows in file_tables.items():
        assert lake_tables[table] == rows, table
    # Non-empty and meaningful: both dates' minutes, and D2's features with their z-scores.
    fp_dates = {r[1] for r in file_tables["footprint_1m"]}
    assert {D1, D2} <= fp_dates
    feats = [r for r in file_tables["daily_features"] if r[0] == D2]
    assert len(feats) == TICKERS and all(r[6] is not None for r in feats)  # z_ngr defined
    assert len(file_tables["universe"]) >= TICKERS and file_tables["signal_outcomes"]

    docs_a, docs_b = _documents(lake_a), _documents(lake_b)
    assert set(docs_a) == set(docs_b)
    assert any(k.startswith("summary/") or "summary" in k for k in docs_a)
    for key, doc in docs_b.items():
        assert docs_a[key] == doc, key
    counts = {t: len(r) for t, r in file_tables.items()}
    print(f"concurrent DuckLake runs {concurrent_s:.1f}s, retried conflicts {logs.count('transaction conflict')}; "
          f"equal tables {counts}; equal documents {len(docs_b)}")  # fmt: skip


def _home(home: Path) -> dict[str, str]:
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return {"DAGSTER_HOME": str(home)}
