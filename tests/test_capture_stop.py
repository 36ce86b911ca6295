"""A stop while the lake is down: exit 3, the lines stay in the spool, the next start writes them.

Real processes (`python -m orderflow_pipeline.cli capture|replay-server`), a real WebSocket server on
loopback, real local lakes (issue 18, first half)."""

from __future__ import annotations

from pathlib import Path

import live_lab
from live_lab import lake_raw_lines, spool_raw_lines, start_capture, start_replay, stop

# the shared fixture (pytest finds a fixture by its name in the module)
src = live_lab.src


def test_stop_while_the_lake_is_down_exits_3_and_the_next_start_writes_the_spool(
    src: Path, tmp_path: Path
) -> None:
    cap, spool = tmp_path / "cap", tmp_path / "spool"
    cap.write_text("the lake is down")  # every lake write fails
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "1000")
    try:
        proc = start_capture(
            cap,
            spool,
            port,
            tmp_path / "cap.log",
            "--duration",
            "3",
            "--flush-seconds",
            "0.5",
            "--final-flush-timeout",
            "1",
        )
        assert proc.wait(40) == 3
        kept = spool_raw_lines(spool)
        assert kept and "stay in the spool" in (tmp_path / "cap.log").read_text()
        cap.unlink()
        proc = start_capture(cap, spool, port, tmp_path / "cap2.log", "--duration", "1")
        assert proc.wait(40) == 0
    finally:
        stop(rs)
    assert set(kept) <= set(lake_raw_lines(cap))
    assert "left in the spool by an earlier run" in (tmp_path / "cap2.log").read_text()
