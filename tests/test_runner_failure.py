"""Issue 16: a failed run ends with one line naming the cause (step, the asset's error, where)
before the details, instead of burying it in Dagster's log.

Real `python -m assets.cli materialize` against a real Dagster instance; the fault is real too:
the warehouse path is a directory, so the first DuckDB-writing step cannot open it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_failed_run_ends_with_one_line_naming_the_cause(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.mkdir()  # the fault: DuckDB cannot open a directory
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORDERFLOW_LAKE": str(tmp_path / "lake"),
        "ORDERFLOW_DUCKDB": str(warehouse),
    }
    env.pop("ORDERFLOW_S3_ENDPOINT_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "assets.cli", "materialize", "--date", "2026-02-02"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert out.returncode == 1, out.stderr[-3000:]
    run_id = json.loads(out.stdout.strip().splitlines()[-1])["run_id"]

    lines = out.stderr.splitlines()
    (i,) = [n for n, line in enumerate(lines) if line.startswith(f"FAILED run {run_id}: ")]
    cause = lines[i]
    # Which step (a DuckDB writer; which one Dagster starts first is its choice), the asset's own
    # error rather than Dagster's wrapper, and where: the warehouse path.
    # Every DuckDB step retries (resources.IO_RETRY): the line names the tries of the last one.
    assert any(
        f": step {s} (4 tries): _duckdb.IOException: " in cause for s in ("footprint_1m", "daily_features")
    ), cause
    assert "Is a directory" in cause and f"warehouse duckdb:{warehouse}" in cause  # the target as configured
    assert "DagsterExecutionStepExecutionError" not in cause
    # ... then the details: the full error with its stack, after the line.
    assert "Stack Trace:" in "\n".join(lines[i + 1 :])
