"""Benchmark (issue 26): the live path's latency, CPU per trade and memory. -> bench-results/live.json

1. Latency, at 300 trades/s (the exchange's peak minute) and 3,000 trades/s (10x): the e2e rig of
   tests/test_live_e2e.py (replay-server with drops and replays -> capture -> serve, real
   processes, default spool settings), a day of 20 simulated tickers sized to stream for about
   BENCH_LIVE_SECONDS at each rate. Per counted trade: replay server's send -> the first
   `/live/stream` candle event covering it (tests/live_e2e.visibility). p50/p99/max, every trade
   visible (asserted: nothing lost), and CPU per trade = serve's process CPU time (user+system,
   psutil) over the run / counted trades.
2. Memory: serve's RSS after a whole simulated full-market day (BENCH_LIVE_TICKERS = 900 names,
   simulator trade_scale BENCH_LIVE_SCALE = 1.0: every print, ~1.2 M trades) through the live
   engine with 50 SSE clients connected, once every trade is live. The day is appended to the
   capture's spool in capture-sized segments (the capture's own `Spool` class) as fast as it can
   be written, not paced at 3,000 trades/s (that would take ~7 minutes for the day): the engine
   takes it at full speed (`feed` in the result says so). Below scale 1 the RSS above the
   empty-engine baseline is also extrapolated linearly to the full day's trade count (stated).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from live_e2e import (  # noqa: E402
    DAY,
    CandleClock,
    Listeners,
    Rig,
    counted,
    percentiles,
    source_day,
    visibility,
    wait_all_sent,
    wait_for,
)

from orderflow_pipeline.sources.ipot.capture.spool import Spool, envelope  # noqa: E402

pytestmark = pytest.mark.bench
RESULTS = ROOT / "bench-results"
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "20"))
FULL_TICKERS = int(os.environ.get("BENCH_LIVE_TICKERS", "900"))
FULL_SCALE = float(os.environ.get("BENCH_LIVE_SCALE", "1.0"))
FULL_DAY_TRADES = 1_200_000  # the full-market day
CLIENTS = 50
SEGMENT_LINES = 500  # the capture's default --flush-lines


def latency_run(tmp: Path, rate: int) -> dict[str, Any]:
    # 20 tickers: trade_scale 0.01 gives ~3,600 trades; scale it to stream ~SECONDS at `rate`
    lines = source_day(tmp / "src", 20, min(1.0, 0.01 * rate * SECONDS / 3600))
    trades = counted(lines)
    rig = Rig(tmp, tmp / "src", ["--rate", str(rate), "--drop-every", "4", "--replay-last", "40"],
              ["--flush-seconds", "2"])  # fmt: skip
    try:
        rig.start_serve()
        assert rig.serve is not None
        proc = psutil.Process(rig.serve.pid)
        clock = CandleClock(rig.url)
        cpu0 = sum(proc.cpu_times()[:2])
        rig.start_replay()
        rig.start_capture()
        wait_all_sent(rig, len(lines), timeout=len(lines) / rate * 5 + 120)
        assert wait_for(lambda: not visibility(rig.sent(), trades, clock)[1], 120)
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        lat, missing = visibility(rig.sent(), trades, clock)
        assert not missing and lat.size == len(trades)  # nothing lost
        clock.close()
        return {"rate": rate, **percentiles(lat), "cpu_us_per_trade": round(cpu / len(trades) * 1e6, 1)}
    finally:
        rig.close()


def memory_run(tmp: Path) -> dict[str, Any]:
    lines = source_day(tmp / "src", FULL_TICKERS, FULL_SCALE)
    n_counted = len(counted(lines))
    rig = Rig(tmp, tmp / "src", [])
    spool = Spool(rig.spool, "live1")
    spool.append(DAY, envelope(lines[0], 0) + b"\n", 1)  # the first segment names the day
    spool.fsync()
    try:
        rig.start_serve()
        assert rig.serve is not None
        proc = psutil.Process(rig.serve.pid)
        assert wait_for(lambda: rig.get("/live/status")["trades"] >= 1, 60)
        listeners = Listeners(rig.url + "/live/stream", CLIENTS)
        time.sleep(2)
        base = proc.memory_info().rss
        t0, cpu0 = time.monotonic(), sum(proc.cpu_times()[:2])
        for i in range(1, len(lines), SEGMENT_LINES):
            chunk = lines[i : i + SEGMENT_LINES]
            spool.append(DAY, b"".join(envelope(x, 0) + b"\n" for x in chunk), len(chunk))
            if spool.lines >= 4 * SEGMENT_LINES:
                spool.seal()  # sealed segments stay in sealed/ (no uploader): the journal reads them there
        spool.fsync()
        peak = 0

        def caught_up() -> bool:
            nonlocal peak
            peak = max(peak, proc.memory_info().rss)
            return bool(rig.get("/live/status")["trades"] == n_counted)

        assert wait_for(caught_up, 3600, step=2)
        took, cpu = time.monotonic() - t0, sum(proc.cpu_times()[:2]) - cpu0
        time.sleep(2)
        rss = proc.memory_info().rss
        alive = sum(1 for b in listeners.bytes if b > 0)
        listeners.close()
        out: dict[str, Any] = {
            "tickers": FULL_TICKERS,
            "trade_scale": FULL_SCALE,
            "trades": n_counted,
            "sse_clients": CLIENTS,
            "sse_clients_receiving": alive,
            "rss_mb_empty": round(base / 2**20, 1),
            "rss_mb": round(rss / 2**20, 1),
            "catch_up_s": round(took, 1),
            "cpu_us_per_trade": round(cpu / n_counted * 1e6, 1),
            "goal_rss_mb": 1024,
            "feed": "full speed: the day appended to the spool as fast as it is written (not paced)",
            "rss_mb_peak": round(peak / 2**20, 1),
        }
        if FULL_SCALE < 1:
            per_trade = (rss - base) / n_counted
            out["rss_mb_extrapolated_to_full_day"] = round((base + per_trade * FULL_DAY_TRADES) / 2**20, 1)
            out["note"] = (
                f"scaled-down day ({n_counted} trades); RSS above the empty engine extrapolated "
                f"linearly to {FULL_DAY_TRADES} trades"
            )
        return out
    finally:
        spool.close()
        rig.close()


def test_bench_live(tmp_path: Path) -> None:
    result: dict[str, Any] = {"latency": [latency_run(tmp_path / f"r{r}", r) for r in (300, 3000)]}
    result["memory"] = memory_run(tmp_path / "mem")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "live.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
