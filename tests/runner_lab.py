"""Shared by the runner tests: a small simulated lake, `orderflow materialize` as a real
subprocess against a real Dagster instance and DuckDB file, and fingerprints of what a run leaves
behind (lake objects, warehouse rows) to compare a disturbed run with a clean one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
# 3 trading days x 20 tickers: every layer has work (footprint, warehouse, 20-session history is
# not reached, which is fine: the comparison is between runs, not against golden numbers).
START, END, TICKERS, SEED = "2026-02-02", "2026-02-04", 20, 5

# Bookkeeping that legitimately differs between two runs of the same inputs:
# - `_state/` holds the layers' incremental manifests (lake mtimes/fingerprints of the run's own files);
# - `generated_at` in summary documents is the time the summary was written;
# - warehouse columns that stamp wall time or a file's mtime, and `ingest_runs` (one row per run:
#   a killed run adds its own).
VOLATILE_JSON_KEYS = {"generated_at"}
VOLATILE_COLUMNS = {"loaded_at", "created_at", "parsed_at", "etag_or_mtime", "updated_at"}
SKIP_TABLES = {"ingest_runs"}


def simulate(lake: Path) -> None:
    """The raw inputs (tape + broker summaries), written once and copied into each test's lake."""
    env = {**os.environ, "ORDERFLOW_LAKE": str(lake)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "assets.cli",
            "simulate",
            "--start",
            START,
            "--end",
            END,
            "--tickers",
            str(TICKERS),
            "--seed",
            str(SEED),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]


def workspace(tmp: Path, raw_lake: Path) -> dict[str, str]:
    """A fresh lake (copy of the raw inputs), warehouse path and DAGSTER_HOME under `tmp`."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    shutil.copytree(raw_lake, tmp / "lake")
    return {
        **os.environ,
        "ORDERFLOW_LAKE": str(tmp / "lake"),
        "ORDERFLOW_DUCKDB": str(tmp / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
    }


def materialize_cmd() -> list[str]:
    return [sys.executable, "-m", "assets.cli", "materialize", "--date", START, "--to", END]


def materialize(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One `orderflow materialize` to completion; the timeout is the acceptance bound, not a speed assert."""
    return subprocess.run(materialize_cmd(), capture_output=True, text=True, timeout=timeout, env=env)


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in VOLATILE_JSON_KEYS}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def lake_fingerprint(lake: Path) -> dict[str, str]:
    """key -> sha256 of every lake object outside `_state/` (JSON documents minus `generated_at`)."""
    out: dict[str, str] = {}
    for p in sorted(lake.rglob("*")):
        key = p.relative_to(lake).as_posix()
        if not p.is_file() or key.startswith("_state/"):
            continue
        data = p.read_bytes()
        if key.endswith(".json"):
            data = json.dumps(_strip(json.loads(data)), sort_keys=True).encode()
        out[key] = hashlib.sha256(data).hexdigest()
    return out


def warehouse_fingerprint(path: str) -> dict[str, tuple[int, str]]:
    """table -> (row count, sha256 of its sorted rows without volatile columns)."""
    con = duckdb.connect(path, read_only=True)
    try:
        out: dict[str, tuple[int, str]] = {}
        tables = [
            r[0]
            for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()
        ]
        for t in tables:
            if t in SKIP_TABLES:
                continue
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in VOLATILE_COLUMNS]
            rows = sorted(repr(r) for r in con.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall())
            out[t] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        return out
    finally:
        con.close()


def fingerprint(env: dict[str, str]) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    return lake_fingerprint(Path(env["ORDERFLOW_LAKE"])), warehouse_fingerprint(env["ORDERFLOW_DUCKDB"])


def dagster_materialize_cmd() -> list[str]:
    """The same range through Dagster's own CLI: no orderflow runner; the run is tagged with its
    process by the concurrency hook assets/definitions.py installs, as a daemon's run worker is."""
    dagster = str(Path(sys.executable).parent / "dagster")
    return [
        dagster,
        "asset",
        "materialize",
        "-m",
        "assets.definitions",
        "--select",
        "*",
        "--partition-range",
        f"{START}...{END}",
    ]


def start_materialize(
    env: dict[str, str], log: Path, cmd: list[str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as f:
        return subprocess.Popen(cmd or materialize_cmd(), stdout=f, stderr=subprocess.STDOUT, env=env)


def run_ids(instance: Any) -> set[str]:
    return {r.run_id for r in instance.get_runs()}


def stop_inside_step(
    instance: Any, proc: subprocess.Popen[bytes], step: str, known_runs: set[str], timeout: float = 120
) -> str | None:
    """Freeze `proc` (SIGSTOP) as soon as its run logs STEP_START for `step`, then SIGKILL it if
    the step had not finished by then: the kill lands inside the step for sure. Returns the run
    id, or None if the step finished before the freeze (the caller retries) or never started."""
    import signal
    import time

    from dagster import DagsterEventType

    run_id: str | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if run_id is None:
            new = run_ids(instance) - known_runs
            run_id = next(iter(new), None)
        if run_id is not None:
            started = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
            if any(e.step_key == step for e in started):
                os.kill(proc.pid, signal.SIGSTOP)
                ended = instance.all_logs(
                    run_id, of_type={DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
                )
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return None if any(e.step_key == step for e in ended) else run_id
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    return None
