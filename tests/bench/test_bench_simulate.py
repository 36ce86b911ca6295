"""Benchmark (issue #3): the simulator writes a full-market day and the 30×150 demo in under a minute each.

Figures (seconds, trades/s, MB written) for
- a full-market day: all 1,217 snapshot tickers with valid codes at trade_scale=1.0 (the
  snapshot's ~940k prints, more on planted high-activity days);
- the default demo range: 30 trading days × 150 tickers (trade_scale 0.1).
Baseline in the same process (the machine is shared, so the ratio matters more than seconds):
as many tape lines as the full-market day, serialised the obvious way (one f-string per trade)
vs the pyarrow-vectorised writer the simulator uses. Results: bench-results/simulate.json.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline import simulator as sim
from orderflow_pipeline.storage.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results" / "simulate.json"
DAY = date(2026, 2, 18)
DEMO_END = date(2026, 2, 27)


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    price = rng.integers(50, 10_000, n)
    side = rng.random(n) < 0.5
    order = rng.integers(1_000, 900_000, n)
    return {
        "tick_idx": rng.integers(0, 3, n).astype(np.int32),
        "ms": np.sort(rng.integers(32_400_000, 57_000_000, n)),
        "board": np.zeros(n, dtype=np.int8),
        "trade_no": np.arange(1, n + 1),
        "price": price,
        "lots": rng.integers(1, 500, n),
        "prev": price,
        "o13": np.where(side, 0, order),
        "o14": np.where(side, order, 0),
        "chg_prev": np.zeros(n, dtype=np.int64),
        "avg": price,
        "ts": 1771380003400 + np.arange(n),
    }


def _vectorised_lines(c: dict[str, np.ndarray]) -> float:
    t0 = time.perf_counter()
    arr = sim.pipe_lines(pa.array(["BBRI", "TLKM", "ADRO"]), **c)
    sim.slice_bytes(arr, 0, len(arr))
    return time.perf_counter() - t0


def _python_lines(c: dict[str, np.ndarray]) -> float:
    """Baseline: the obvious per-trade f-string formatting of the same lines."""
    names = ["BBRI", "TLKM", "ADRO"]
    t0 = time.perf_counter()
    out = []
    for i in range(len(c["price"])):
        p, v, sec = int(c["price"][i]), int(c["lots"][i]), int(c["ms"][i]) // 1000
        o13, o14 = int(c["o13"][i]), int(c["o14"][i])
        hms = f"{sec // 3600:02d}{sec // 60 % 60:02d}{sec % 60:02d}"
        raw = (
            f"B|{hms}|0|{names[c['tick_idx'][i]]}|RG|{int(c['trade_no'][i]):06d}|{p}|{v}|--|-|--|-|{p}|"
            f"{o13 or '00'}|{o14 or '00'}|0|0|{p}|0|1"
        )
        out.append(
            f'{{"v":2,"fmt":"pipe","src":"ipot_ws","raw":"{raw}","ts":{int(c["ts"][i])},"ts_quality":"ingestion"}}\n'
        )
    "".join(out).encode()
    return time.perf_counter() - t0


@pytest.mark.bench
def test_bench_simulate(tmp_path: Path) -> None:
    results: dict[str, object] = {}

    # full-market day
    uni = sim.load_universe(10_000)
    lake = Lake(str(tmp_path / "full"))
    t0 = time.perf_counter()
    s = sim.simulate_day(lake, DAY, uni, seed=7, trade_scale=1.0)
    full_s = time.perf_counter() - t0
    results["full_market_day"] = {
        "tickers": len(uni),
        "traded_tickers": s["tickers"],
        "trades": s["trades"],
        "objects": s["objects"],
        "seconds": round(full_s, 2),
        "trades_per_s": round(s["trades"] / full_s),
        "mb_written": round(_size(tmp_path / "full") / 1e6, 1),
    }

    # serialisation of that many lines: pyarrow vectorised (as used) vs a Python loop (baseline)
    cols = _columns(s["trades"], np.random.default_rng(1))
    vec_s, py_s = _vectorised_lines(cols), _python_lines(cols)
    results["serialise_same_number_of_lines"] = {
        "vectorised_s": round(vec_s, 2),
        "python_loop_s": round(py_s, 2),
        "speedup": round(py_s / vec_s, 1),
    }

    # the demo range: 30 trading days × 150 tickers
    days = idx_calendar.previous_sessions(DEMO_END, 29)[::-1] + [DEMO_END]
    lake = Lake(str(tmp_path / "demo"))
    t0 = time.perf_counter()
    st = sim.simulate_range(lake, days[0], days[-1], n_tickers=150, seed=7)
    demo_s = time.perf_counter() - t0
    results["demo_30x150"] = {
        "days": st["days"],
        "tickers": st["tickers"],
        "trades": st["trades"],
        "objects": st["objects"],
        "seconds": round(demo_s, 2),
        "trades_per_s": round(st["trades"] / demo_s),
        "mb_written": round(_size(tmp_path / "demo") / 1e6, 1),
    }

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    assert st["days"] == 30
    assert s["trades"] > 900_000
