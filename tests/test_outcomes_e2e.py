"""Issue 27's acceptance, holdout style: a simulated lake, the real CLI in a subprocess, a real
Dagster instance and DuckDB file, and the answer worked out again independently of the pipeline.

`orderflow materialize --date A --to B` alone (no sensor, no daemon, no `--layers`) must fill
`signal_outcomes` (and `ticker_universe`); every item's ret_next_oc, ret_next_cc and ret_5d must
equal the SPEC §17 / issue 21 formulas computed here from the footprint candle files (NDJSON read
with json, grouped by the WIB date of t0: open = the first minute's open, close = the last
minute's close, D+k = the ticker's k-th later day with candles). Then `orderflow outcomes` reads
the filled table, and on a window without rows names the missing layer and the command, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

A, B = date(2026, 2, 18), date(2026, 3, 2)  # Wed..Mon: 9 IDX sessions (16-17 Feb: Chinese New Year)
DAYS = idx_calendar.trading_days(A, B)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "assets.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ})


def candle_sessions(lake_root: Path) -> dict[str, list[tuple[date, int, int]]]:
    """ticker -> [(WIB date, open, close)] ascending, straight from the footprint files."""
    minutes: dict[tuple[str, date], list[tuple[int, int, int]]] = {}
    for path in (lake_root / "footprint").rglob("*.jsonl"):
        m = keys.FOOTPRINT_KEY_RE.match(path.relative_to(lake_root).as_posix())
        assert m, path
        for line in path.read_text().splitlines():
            c = json.loads(line)
            day = datetime.fromtimestamp(c["t0"] / 1000, tz=timezone.utc).astimezone(keys.WIB).date()
            minutes.setdefault((m.group(1), day), []).append((c["t0"], c["ohlc"]["o"], c["ohlc"]["c"]))
    out: dict[str, list[tuple[date, int, int]]] = {}
    for (t, day), rows in sorted(minutes.items()):
        rows.sort()
        out.setdefault(t, []).append((day, rows[0][1], rows[-1][2]))
    return out


def pct(new: int, base: int) -> float:
    return (new - base) / base * 100.0


def test_materialize_of_a_range_alone_fills_the_outcomes(env: dict[str, str]) -> None:
    lake_root = Path(env["ORDERFLOW_LAKE"])
    simulate_range(Lake(str(lake_root)), A, B, n_tickers=10, seed=27, trade_scale=0.05)
    assert len(DAYS) == 9

    run = _cli("materialize", "--date", A.isoformat(), "--to", B.isoformat())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["layers"][-2:] == ["summary", "outcomes"]

    sessions = candle_sessions(lake_root)
    con = duckdb.connect(env["ORDERFLOW_DUCKDB"], read_only=True)
    try:
        got = {
            (d, t): (oc, cc, r5)
            for d, t, oc, cc, r5 in con.execute(
                "SELECT date, ticker, ret_next_oc, ret_next_cc, ret_5d FROM signal_outcomes"
            ).fetchall()
        }
        universe = con.execute("SELECT count(*) FROM universe WHERE last_traded IS NOT NULL").fetchone()
    finally:
        con.close()
    assert universe is not None and universe[0] >= 10  # ticker_universe ran in the same run

    expect: dict[tuple[date, str], tuple[float | None, float | None, float | None]] = {}
    for d in DAYS:
        summary = json.loads((lake_root / keys.summary_key(d)).read_bytes())
        for item in summary["items"]:
            own = sessions[item["t"]]
            (close_d,) = [c for day, _, c in own if day == d]
            after = [(o, c) for day, o, c in own if day > d]
            expect[(d, item["t"])] = (
                pct(after[0][1], after[0][0]) if after else None,
                pct(after[0][1], close_d) if after else None,
                pct(after[4][1], close_d) if len(after) >= 5 else None,
            )
    assert set(got) == set(expect)
    assert got == expect  # the same arithmetic on the same integers: equal to the last bit
    # the check has teeth: most items have all three returns, the last date none
    assert sum(1 for v in got.values() if v[2] is not None) >= 30
    assert all(v == (None, None, None) for (d, _), v in got.items() if d == B)

    text = _cli("outcomes", "--text", "--to", B.isoformat(), "--days", "20")
    assert text.returncode == 0, text.stderr[-2000:]
    assert "NEUTRAL" in text.stdout and "t > 3 net of costs" in text.stdout

    before = _cli("outcomes", "--to", "2026-01-30", "--days", "5")
    assert before.returncode == 2 and before.stdout == ""
    (line,) = before.stderr.strip().splitlines()
    assert line == (
        "orderflow outcomes: signal_outcomes has no rows for 2026-01-26..2026-01-30: build them with "
        "`orderflow materialize --date 2026-01-26 --to 2026-01-30` (the outcomes layer; "
        "`--layers outcomes` when the summaries exist)"
    )


@pytest.mark.parametrize("layers", [["outcomes"], ["universe"]])
def test_outcomes_and_universe_are_layers_of_materialize(layers: list[str]) -> None:
    from assets.runtime.range_runs import LAYERS, controls_run_config

    assert controls_run_config(layers) == {}  # accepted, no run config of their own
    assert {"universe": "ticker_universe", "outcomes": "signal_outcomes"}.items() <= LAYERS.items()


def test_every_materialize_layer_is_in_the_backfill_job() -> None:
    """The UI's backfill of `materialize_layers` and the CLI's default run the same assets."""
    from assets.definitions import build_defs
    from assets.runtime.range_runs import ALL_LAYERS_JOB, LAYERS

    job = build_defs().resolve_job_def(ALL_LAYERS_JOB)
    assets = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert set(LAYERS.values()) == assets
