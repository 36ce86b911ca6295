"""The installed `orderflow` console script as a new user meets it (issue 29).

Every case runs the real entry point (`.venv/bin/orderflow`, i.e. `assets.cli:run`) in a
subprocess with an environment stripped of every ORDERFLOW_* and DAGSTER_* variable, in a temp
working directory — what `orderflow ...` typed outside `make` sees. A user's mistake must be one
line on stderr naming the problem and a non-zero exit, never a traceback; `--debug` shows it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDERFLOW = Path(sys.executable).with_name("orderflow")
# 2026-12-04 is a Friday session, 2026-12-05/06 the weekend after it (IDX trades Mon..Fri).
FRIDAY, SUNDAY, TUESDAY = "2026-12-04", "2026-12-06", "2026-12-01"


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """os.environ without any project or Dagster setting, the lake and warehouse under `tmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERFLOW_", "DAGSTER_"))}
    env["ORDERFLOW_LAKE"] = str(tmp / "data" / "lake")
    env["ORDERFLOW_DUCKDB"] = str(tmp / "data" / "warehouse.duckdb")
    env.update(extra)
    return env


def orderflow(tmp: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERFLOW), *args], cwd=tmp, env=clean_env(tmp, **env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def assert_one_line_error(out: subprocess.CompletedProcess[str], *names: str) -> str:
    assert out.returncode != 0, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


USER_ERRORS = [
    # (id, argv, env, what the line must name)
    ("materialize-sunday", ["materialize", "--date", SUNDAY], {}, ["no IDX trading day", SUNDAY]),
    (
        "materialize-reversed",
        ["materialize", "--date", FRIDAY, "--to", TUESDAY],
        {},
        [f"--date {FRIDAY} is after --to {TUESDAY}"],
    ),
    ("simulate-sunday", ["simulate", "--start", SUNDAY, "--end", SUNDAY], {}, ["no IDX trading day", SUNDAY]),
    (
        "simulate-reversed",
        ["simulate", "--start", FRIDAY, "--end", TUESDAY],
        {},
        [f"--start {FRIDAY} is after --end {TUESDAY}"],
    ),
    (
        "fetch-broksum-sunday",
        ["fetch-broksum", "--date", SUNDAY, "--tickers", "BBRI", "--url", "ws://127.0.0.1:9/"],
        {},
        [f"{SUNDAY} is not an IDX trading day"],
    ),
    ("check-sunday", ["check", "--date", SUNDAY], {}, [f"{SUNDAY} is not an IDX trading day"]),
    # without these the server listens and sends nothing, for ever
    (
        "replay-server-sunday",
        ["replay-server", "--date", SUNDAY, "--port", "0"],
        {},
        [f"{SUNDAY} is not an IDX trading day"],
    ),
    (
        "replay-server-negative-rate",
        ["replay-server", "--date", FRIDAY, "--rate", "-5", "--port", "0"],
        {},
        ["--rate", "must be a number >= 0"],
    ),
    # without the check the server starts and every request fails: the subprocess times out
    (
        "serve-bad-setting",
        ["serve", "--port", "0"],
        {"ORDERFLOW_DASHBOARD_URL": "dash"},
        ["ORDERFLOW_DASHBOARD_URL"],
    ),
    (
        "summary-bad-setting",
        ["summary"],
        {"ORDERFLOW_MIN_WAREHOUSE_TICKERS": "many"},
        ["ORDERFLOW_MIN_WAREHOUSE_TICKERS", "'many'"],
    ),
    (
        "materialize-bad-setting",
        ["materialize", "--date", FRIDAY],
        {"ORDERFLOW_LAKE": "ftp://x/y"},
        ["ORDERFLOW_LAKE"],
    ),
    (
        "scan-bad-setting",
        ["scan", "--ticker", "BBRI", "--to", FRIDAY, "--days", "3"],
        {"ORDERFLOW_WAREHOUSE": "postgres:db"},
        ["ORDERFLOW_WAREHOUSE"],
    ),
    (
        "runs-bad-setting",
        ["runs", "reap"],
        {"ORDERFLOW_S3_ENDPOINT_URL": "localhost:9000"},
        ["ORDERFLOW_S3_ENDPOINT_URL"],
    ),
    (
        "scan-unknown-ticker",
        ["scan", "--ticker", "NOPE", "--to", FRIDAY, "--days", "3"],
        {},
        ["unknown ticker NOPE"],
    ),
    (
        "export-no-warehouse",
        ["export", "--table", "footprint_1m", "--from", TUESDAY, "--to", FRIDAY, "--out", "x.parquet"],
        {},
        ["does not exist yet"],
    ),
]


@pytest.mark.parametrize(
    ("argv", "env", "names"), [c[1:] for c in USER_ERRORS], ids=[c[0] for c in USER_ERRORS]
)
def test_a_user_error_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, argv: list[str], env: dict[str, str], names: list[str]
) -> None:
    line = assert_one_line_error(orderflow(tmp_path, *argv, timeout=60, **env), *names)
    assert line.startswith(f"orderflow {argv[0]}: "), line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(tmp_path: Path, where: str) -> None:
    scan = ["scan", "--ticker", "NOPE", "--to", FRIDAY, "--days", "3"]
    out = orderflow(tmp_path, *(["--debug", *scan] if where == "before" else [*scan, "--debug"]))
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "unknown ticker NOPE" in out.stderr.strip().splitlines()[-1]


def test_a_listed_ticker_without_data_is_not_unknown(tmp_path: Path) -> None:
    """BBRI is in the packaged IDX snapshot: an empty lake is no gap and no error for it."""
    out = orderflow(tmp_path, "scan", "--ticker", "BBRI", "--to", FRIDAY, "--days", "3")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gaps"] == []


def test_a_ticker_only_the_lake_knows_is_not_unknown(tmp_path: Path) -> None:
    """ZZZZ is in no snapshot: a broker summary in the lake is enough to know it."""
    doc = tmp_path / "data" / "lake" / "raw-broksum" / "ZZZZ" / f"{FRIDAY}.json"
    doc.parent.mkdir(parents=True)
    doc.write_text("{}")
    out = orderflow(tmp_path, "scan", "--ticker", "ZZZZ", "--to", FRIDAY, "--days", "3")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gaps"] == []


def test_materialize_outside_make_sets_up_the_readme_dagster_home(tmp_path: Path) -> None:
    """No DAGSTER_HOME: the run lands in ./.dagster, set up as `make` would (dagster.yaml copied)."""
    sim = orderflow(tmp_path, "simulate", "--start", FRIDAY, "--end", FRIDAY, "--tickers", "8")
    assert sim.returncode == 0, sim.stderr
    out = orderflow(tmp_path, "materialize", "--date", FRIDAY, "--tickers", "BBRI,BBCA", timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "DagsterHomeNotSetError" not in out.stderr
    result = json.loads(out.stdout)
    assert result["success"] is True
    home = tmp_path / ".dagster"
    assert (home / "dagster.yaml").read_bytes() == (ROOT / "dagster.yaml").read_bytes()

    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(result["run_id"])
        assert run is not None and run.is_success
        # the copied dagster.yaml is the one in force: its pools have one slot
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

    # a second command reuses the folder, and `runs reap` needs an instance too
    reap = orderflow(tmp_path, "runs", "reap")
    assert reap.returncode == 0, reap.stderr
