"""Operator controls (issue 19): `orderflow materialize --date D [--to D] [--force] [--tickers A,B]
[--source lake] [--layers ...]` is the same as Dagster run config, and `--tickers` repairs only
those tickers: every other ticker's hour file, warehouse row and manifest entry keeps its bytes.

Real parts: the CLI in a subprocess, a real Dagster instance, a real DuckDB file, a real lake."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from assets.runtime.range_runs import controls_run_config
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.lake import Lake

D = "2026-02-18"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assets.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ})


def _files(lake: Lake) -> dict[str, tuple[str, int]]:
    """Every footprint hour file of D: (sha1 of the bytes, mtime in ns: a rewrite changes it)."""
    out = {}
    for key in inventory.footprint_objects(lake, D):
        path = Path(lake.root) / key
        out[key] = (hashlib.sha1(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return out


def _rows(db: str) -> dict[str, object]:
    """Per ticker: a digest of its footprint_1m and footprint_levels rows and its manifest entries
    (loaded_at included: a reload changes it)."""
    con = duckdb.connect(db, read_only=True)
    try:
        out: dict[str, object] = {}
        for table, order in (
            ("footprint_1m", "time_key"),
            ("footprint_levels", "time_key, price"),
            ("ingest_manifest", "key"),
        ):
            for ticker, rows in con.execute(
                f"SELECT ticker, list(t ORDER BY {order}) FROM {table} t GROUP BY ticker"
            ).fetchall():
                out[f"{table}:{ticker}"] = hashlib.sha1(repr(rows).encode()).hexdigest()
        return out
    finally:
        con.close()


def _ticker(key: str) -> str:
    return key.split("/")[1]


def test_run_config_is_the_launchpad_shape() -> None:
    assert controls_run_config(
        ["footprint", "warehouse", "summary"], tickers=["BBRI", "PJHB-W"], source="lake"
    ) == {
        "ops": {
            "footprint_ndjson": {"config": {"force": False, "tickers": ["BBRI", "PJHB-W"]}},
            "footprint_1m": {"config": {"force": False, "tickers": ["BBRI", "PJHB-W"]}},
            "footprint_summary": {"config": {"source": "lake"}},
        }
    }
    assert controls_run_config(None, force=True)["ops"]["daily_features"] == {"config": {"force": True}}
    with pytest.raises(ValueError, match="unknown layer"):
        controls_run_config(["footprints"])
    with pytest.raises(ValueError, match="invalid ticker"):
        controls_run_config(None, tickers=["bbri"])


def test_tickers_rebuild_touches_only_those_tickers(env: dict[str, str]) -> None:
    lake = Lake(env["ORDERFLOW_LAKE"])
    simulate_range(lake, D, D, n_tickers=12, seed=5)
    first = _cli("materialize", "--date", D)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    files, rows = _files(lake), _rows(env["ORDERFLOW_DUCKDB"])
    tickers = sorted({_ticker(k) for k in files})
    assert len(tickers) >= 8
    a, b = tickers[0], tickers[1]

    # Damage A and B: A loses an hour file and its warehouse rows, B's hour file is truncated.
    a_keys = sorted(k for k in files if _ticker(k) == a)
    b_keys = sorted(k for k in files if _ticker(k) == b)
    (Path(lake.root) / a_keys[0]).unlink()
    b_path = Path(lake.root) / b_keys[0]
    b_path.write_bytes(b_path.read_bytes()[:40])
    con = duckdb.connect(env["ORDERFLOW_DUCKDB"])
    con.execute("DELETE FROM footprint_1m WHERE ticker = ?", [a])
    con.close()

    repair = _cli("materialize", "--date", D, "--tickers", f"{a},{b}")
    assert repair.returncode == 0, repair.stdout[-2000:] + repair.stderr[-3000:]
    out = json.loads(repair.stdout.strip().splitlines()[-1])
    assert out["layers"] == ["footprint", "warehouse", "summary", "outcomes"]
    assert out["run_config"]["ops"]["footprint_ndjson"] == {"config": {"force": False, "tickers": [a, b]}}
    # the Dagster run carries that config: the CLI flags ARE the Launchpad's run config
    instance = DagsterInstance.get()
    try:
        run = instance.get_run_by_id(out["run_id"])
        assert run is not None and run.run_config["ops"] == out["run_config"]["ops"]
    finally:
        instance.dispose()

    after_files, after_rows = _files(lake), _rows(env["ORDERFLOW_DUCKDB"])
    # A and B are back, byte for byte as the first build wrote them
    assert set(after_files) == set(files)
    for k in a_keys + b_keys:
        assert after_files[k][0] == files[k][0], k
    # every other ticker's file: same bytes AND same mtime (not rewritten)
    others = {k: v for k, v in files.items() if _ticker(k) not in (a, b)}
    assert {k: after_files[k] for k in others} == others
    # every other ticker's rows, levels and manifest entries (loaded_at included) unchanged
    assert {k: v for k, v in after_rows.items() if k.split(":")[1] not in (a, b)} == {
        k: v for k, v in rows.items() if k.split(":")[1] not in (a, b)
    }
    # A's and B's rows equal the first load's (the manifest entries were reloaded: loaded_at moved)
    for t in (a, b):
        for table in ("footprint_1m", "footprint_levels"):
            assert after_rows[f"{table}:{t}"] == rows[f"{table}:{t}"], (table, t)
