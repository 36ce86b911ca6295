"""End to end through the CLI: simulate -> `orderflow materialize` (one Dagster run) -> summaries.

The simulator plants regimes; the pipeline, which knows nothing of them, must find them:
falling knives are SELL (rule 0: the day's price fell more than 5%), accumulation days score in
the buy family far more often than ordinary days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import planted_regimes
from orderflow_pipeline.storage.keys import SUMMARY_LATEST, summary_key
from orderflow_pipeline.storage.lake import Lake

BUY_FAMILY = {"BUY", "STRONG_BUY", "HIDDEN_ACCUM", "WATCH_ACCUM"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # The console script's module (the venv's `orderflow` may point at another checkout's code).
    cmd = [sys.executable, "-m", "assets.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ})


def test_simulated_market_end_to_end(env: dict[str, str]) -> None:
    days = idx_calendar.trading_days("2026-01-02", "2026-02-13")[:28]
    start, end, n, seed = days[0].isoformat(), days[-1].isoformat(), 40, 11

    sim = _cli("simulate", "--start", start, "--end", end, "--tickers", str(n), "--seed", str(seed))
    assert sim.returncode == 0, sim.stderr[-3000:]
    run = _cli("materialize", "--date", start, "--to", end)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["success"] is True

    lake = Lake(env["ORDERFLOW_LAKE"])
    docs = {d: lake.read_json(summary_key(d)) for d in days}  # a file for every date
    assert all(doc["count"] == len(doc["items"]) > 0 for doc in docs.values())
    # Only the newest date writes the L0 copy, even though the run went oldest -> newest.
    assert lake.read_json(SUMMARY_LATEST)["date"] == end

    planted = planted_regimes(start, end, n_tickers=n, seed=seed)
    by_regime: dict[str, Counter[str]] = {}
    for d, doc in docs.items():
        if not doc["ctx_found"]:
            continue
        for it in doc["items"]:
            regime = planted.get((d, it["t"]), "neutral")
            by_regime.setdefault(regime, Counter())[it["sig"]] += 1

    knife = by_regime.get("falling_knife", Counter())
    assert sum(knife.values()) > 0, f"no falling knife planted with context: {by_regime}"
    assert set(knife) == {"SELL"}, knife

    acc, neutral = by_regime.get("accumulation", Counter()), by_regime.get("neutral", Counter())
    acc_rate = sum(acc[s] for s in BUY_FAMILY) / max(1, sum(acc.values()))
    neutral_rate = sum(neutral[s] for s in BUY_FAMILY) / max(1, sum(neutral.values()))
    assert sum(acc.values()) >= 5, by_regime
    assert acc_rate >= 0.5 and acc_rate > 2 * neutral_rate, (acc, neutral)

    # The CLI's own reader (L0 of the fallback chain) prints the newest date.
    summ = _cli("summary", "--compact")
    assert summ.returncode == 0 and json.loads(summ.stdout)["date"] == end
