"""Issue 26's kill tests: kill -9 of `orderflow serve` and, separately, of `orderflow capture` at
seeded random moments during a replay (tests/live_e2e.py). After the restarts every ticker's
`/live/footprint` equals the footprint layer's candles of the lake the capture wrote (built by
`orderflow materialize`), and `/live/status` counts each of the lake's trades once: the API's
rebuild (lake + spool) has no gap and no double count, whatever the capture was doing."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from live_e2e import Rig, assert_live_equals_batch, batch_trades, counted, kill9, source_day, wait_all_sent
from live_lab import wait_for

RATE = 300
TICKERS, SCALE = 20, 0.01


@pytest.mark.parametrize("victim", ["serve", "capture"])
def test_kill9_during_a_replay_then_live_equals_batch(tmp_path: Path, victim: str) -> None:
    lines = source_day(tmp_path / "src", TICKERS, SCALE)
    rng = random.Random(f"26-{victim}")
    # every reconnect re-sends all trades so far: what was in flight to a killed capture reaches
    # the next one (what counts is what the capture had received), and is received twice
    rig = Rig(
        tmp_path,
        tmp_path / "src",
        ["--rate", str(RATE), "--replay-last", "1000000"],
        ["--flush-seconds", "1"],
    )
    try:
        rig.start_serve()
        rig.start_replay()
        rig.start_capture()
        kills = 0
        while len(rig.sent()) < len(lines) * 0.8 and kills < 3:
            time.sleep(rng.uniform(1.0, 3.0))
            if victim == "serve":
                kill9(rig.serve)
                rig.start_serve()
            else:
                kill9(rig.capture)
                rig.start_capture()
            kills += 1
        assert kills >= 2
        wait_all_sent(rig, len(lines), timeout=len(lines) / RATE * 4 + 60)
        assert rig.capture is not None
        time.sleep(2)  # the last frames reach the capture
        rig.capture.send_signal(signal.SIGTERM)  # flush the spool into the lake
        assert rig.capture.wait(60) == 0
        want = batch_trades(rig.lake)
        assert want == len(counted(lines))  # the capture lost nothing either (the replays made up for it)
        assert wait_for(lambda: rig.get("/live/status")["trades"] == want, 30), rig.get("/live/status")
        assert_live_equals_batch(rig)
        if victim == "capture":
            assert "left in the spool by an earlier run" in (tmp_path / "capture.log").read_text()
    finally:
        rig.close()
