"""NOSERVICE, malformed frames, a stalled feed and a refused token: reported, acted on, nothing lost.

Real processes (`python -m orderflow_pipeline.cli capture|replay-server`), a real WebSocket server on
loopback, real local lakes, a local alert webhook (issue 18, first half)."""

from __future__ import annotations

import json
from pathlib import Path

import live_lab
from live_lab import (
    Receiver,
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
receiver = live_lab.receiver


def test_noservice_malformed_and_stall_are_reported(src: Path, tmp_path: Path, receiver: Receiver) -> None:
    want = set(day_lines(Lake(str(src))))
    cap, spool = tmp_path / "cap", tmp_path / "spool"
    rs, port = start_replay(
        src,
        tmp_path / "rs.log",
        "--speed",
        "3000",
        "--noservice",
        "2",
        "--malformed-every",
        "400",
        "--stall-after",
        "2",
        "--stall-for",
        "4",
    )
    proc = None
    try:
        proc = start_capture(
            cap,
            spool,
            port,
            tmp_path / "cap.log",
            "--flush-seconds",
            "1",
            "--stall-seconds",
            "1.5",
            "--heartbeat-seconds",
            "0.5",
            ORDERFLOW_ALERT_WEBHOOK=receiver.url,
        )
        assert wait_for(lambda: captured_everything(cap, want), 50, step=1.0), (
            tmp_path / "cap.log"
        ).read_text()
        assert stop(proc) == 0
    finally:
        stop(rs)
        if proc is not None:
            stop(proc)
    log = (tmp_path / "cap.log").read_text()
    assert "noservice: error reply to the LT subscription: NOSERVICE" in log
    assert "malformed frame" in log
    assert "stall: no trade for" in log
    hb = json.loads((cap / "_state/capture/t1.json").read_text())
    assert hb["problems"]["noservice"]["count"] >= 2
    assert hb["problems"]["malformed"]["count"] >= len(want) // 400 - 1
    assert hb["problems"]["stall"]["count"] >= 1
    assert {"capture_noservice", "capture_malformed", "capture_stall"} <= receiver.kinds()
    assert set(lake_raw_lines(cap)) == want  # and nothing was lost on the way


def test_permanent_noservice_exits_non_zero_with_a_message(
    src: Path, tmp_path: Path, receiver: Receiver
) -> None:
    rs, port = start_replay(src, tmp_path / "rs.log", "--noservice", "-1")
    try:
        proc = start_capture(
            tmp_path / "cap",
            tmp_path / "spool",
            port,
            tmp_path / "cap.log",
            "--max-failures",
            "3",
            ORDERFLOW_ALERT_WEBHOOK=receiver.url,
        )
        rc = proc.wait(30)
    finally:
        stop(rs)
    assert rc == 1
    assert "giving up after 3 consecutive failures" in (tmp_path / "cap.log").read_text()
    hb = json.loads((tmp_path / "cap/_state/capture/t1.json").read_text())
    assert hb["state"] == "failed" and hb["problems"]["noservice"]["count"] == 3
    assert "capture_noservice" in receiver.kinds()
