"""A lake that is down for 30 s costs `orderflow capture` nothing.

Real processes (`python -m orderflow_pipeline.cli capture|replay-server`), a real WebSocket server on
loopback, real local lakes, a local alert webhook (issue 18, first half)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import live_lab
from live_lab import (
    captured_everything,
    day_lines,
    lake_raw_lines,
    start_capture,
    start_replay,
    stop,
    wait_for,
)

from orderflow_pipeline.storage.lake import Lake

# the shared fixtures (pytest finds a fixture by its name in the module)
src = live_lab.src


def _bring_back(cap: Path, away: Path) -> None:
    """Put the lake folder back. Between removing the stand-in file and the rename, a capture retry
    may already have made a fresh `cap/` (a local lake creates its folders): keep what it wrote."""
    cap.unlink()
    try:
        away.rename(cap)
    except OSError:
        shutil.copytree(cap, away, dirs_exist_ok=True)
        shutil.rmtree(cap)
        away.rename(cap)


def test_lake_unavailable_for_30_s_loses_nothing(src: Path, tmp_path: Path) -> None:
    """The lake folder is replaced by a plain file for 30 s (every write fails, as with an
    unmounted volume). `--lake-retry-cap 2` only shortens the retry cadence after it comes back."""
    want = set(day_lines(Lake(str(src))))
    cap, spool, away = tmp_path / "cap", tmp_path / "spool", tmp_path / "cap.away"
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "1500")
    proc = None
    try:
        proc = start_capture(
            cap,
            spool,
            port,
            tmp_path / "cap.log",
            "--flush-seconds",
            "1",
            "--heartbeat-seconds",
            "1",
            "--lake-retry-cap",
            "2",
        )
        assert wait_for(lambda: len(lake_raw_lines(cap)) > 0, 20)
        cap.rename(away)
        cap.write_text("the lake is down")
        t_down = time.time()
        time.sleep(8)
        hb1 = json.loads((spool / "heartbeat.json").read_text())
        time.sleep(max(0.0, 30 - (time.time() - t_down)))
        hb2 = json.loads((spool / "heartbeat.json").read_text())
        assert hb1["state"] == "lake_unavailable" and "lake_unavailable" in hb1["problems"]
        assert hb2["spool_bytes"] > hb1["spool_bytes"] > 0  # the spool grows while the lake is down
        _bring_back(cap, away)
        assert wait_for(lambda: captured_everything(cap, want), 40, step=1.0), (
            tmp_path / "cap.log"
        ).read_text()
        assert stop(proc) == 0
    finally:
        stop(rs)
        if proc is not None:
            stop(proc)
        if cap.is_file():
            _bring_back(cap, away)
    assert set(lake_raw_lines(cap)) == want
    log = (tmp_path / "cap.log").read_text()
    assert "lake write failed" in log and "lake writable again" in log
    assert json.loads((cap / "_state/capture/t1.json").read_text())["spool_bytes"] == 0
