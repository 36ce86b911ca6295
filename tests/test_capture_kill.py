"""kill -9 of `orderflow capture` at random moments loses no trade it had received.

Real processes (`python -m orderflow_pipeline.cli capture|replay-server`), a real WebSocket server on
loopback, real local lakes, a local alert webhook (issue 18, first half)."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import live_lab
from live_lab import (
    captured_everything,
    day_lines,
    lake_raw_lines,
    spool_raw_lines,
    start_capture,
    start_replay,
    stop,
    wait_for,
)

from orderflow_pipeline.storage.lake import Lake

# the shared fixtures (pytest finds a fixture by its name in the module)
src = live_lab.src


def test_kill9_at_random_moments_loses_nothing_received(src: Path, tmp_path: Path) -> None:
    want = set(day_lines(Lake(str(src))))
    cap, spool = tmp_path / "cap", tmp_path / "spool"
    rng = random.Random(18)
    # after every reconnect the server re-sends all trades so far: what was in flight to a killed
    # capture reaches the next one (the acceptance is about what the capture HAD received)
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "2500", "--replay-last", "100000")
    received: set[str] = set()
    unflushed = 0
    try:
        for _ in range(3):
            proc = start_capture(cap, spool, port, tmp_path / "cap.log", "--flush-seconds", "0.7")
            time.sleep(rng.uniform(2.0, 4.0))
            assert proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            in_spool = set(spool_raw_lines(spool))
            unflushed += bool(in_spool)
            received |= in_spool | set(lake_raw_lines(cap))
        assert unflushed >= 1  # at least one kill hit lines that were not yet in the lake
        proc = start_capture(cap, spool, port, tmp_path / "cap.log", "--flush-seconds", "0.7")
        assert wait_for(lambda: captured_everything(cap, want), 50, step=1.0), (
            tmp_path / "cap.log"
        ).read_text()
        assert stop(proc) == 0
    finally:
        stop(rs)
    final = set(lake_raw_lines(cap))
    assert received <= final  # nothing any killed capture had received is missing
    assert final == want
    assert spool_raw_lines(spool) == []
    assert "left in the spool by an earlier run" in (tmp_path / "cap.log").read_text()
