"""`orderflow capture` against `orderflow replay-server`: the replayed day, captured, gives the same candles.

"materialize" here is the footprint layer (`footprint.build_footprint`, the step that turns tape
into candles; the warehouse and summary only copy/aggregate those candles): the candles built from
the captured lake must be byte-identical to those built from the replayed day's own tape."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import live_lab
from live_lab import (
    DAY,
    captured_everything,
    day_lines,
    footprint_files,
    lake_raw_lines,
    start_capture,
    start_replay,
    stop,
    wait_for,
)

from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.sources.ipot.capture.spool import Spool, envelope, object_key
from orderflow_pipeline.storage.keys import trade_date_of_raw_key
from orderflow_pipeline.storage.lake import Lake

# the shared fixtures (pytest finds a fixture by its name in the module)
src = live_lab.src


def test_spool_seal_recover_and_keys(tmp_path: Path) -> None:
    d = date(2026, 2, 18)
    sp = Spool(tmp_path / "spool", "cap-1")
    line = "B|090002|0|ADRO|RG|074313|2210|1|--|-|--|-|2220|72596|00|-10|0|2219|0|1"
    sp.append(d, envelope(line, 1771380003400) + b"\n" + envelope(line, 1771380003401) + b"\n", 2)
    s = sp.seal()
    assert s is not None
    # UTC hour of 09:00:02 WIB = 02 UTC on the trading date; first_ms = first receive ms; count
    assert s.key == "raw_lt/2026/02/18/02/1771380003400_cap-1_2.jsonl"
    assert trade_date_of_raw_key(s.key) == d
    # a second segment starting in the same ms never shares the key
    sp.append(d, envelope(line, 1771380003400) + b"\n" + envelope(line, 1771380003400) + b"\n", 2)
    s2 = sp.seal()
    assert s2 is not None and s2.key != s.key
    # a process killed mid-line: the torn tail is dropped, the complete lines are sealed on restart
    sp.append(d, envelope(line, 1771380009000) + b"\n", 1)
    assert sp._fd is not None
    os.write(sp._fd, b'{"v":2,"fmt":"pi')
    sp2 = Spool(tmp_path / "spool", "cap-1")
    assert sp2.recover() == 1
    keys = [x.key for x in sp2.sealed()]
    assert len(keys) == 3 and all(trade_date_of_raw_key(k) == d for k in keys)
    # an early-morning trade (06:30 WIB = 23 UTC the day before) still files under its trading date
    k, _ = object_key(d, envelope(line.replace("090002", "063000"), 1) + b"\n", "x")
    assert k.startswith("raw_lt/2026/02/17/23/") and trade_date_of_raw_key(k) == d


# -- acceptance ------------------------------------------------------------------------------------


def test_replay_capture_materialize_equals_own_tape_with_drops(src: Path, tmp_path: Path) -> None:
    want = set(day_lines(Lake(str(src))))
    cap = tmp_path / "cap"
    rs, port = start_replay(
        src, tmp_path / "rs.log", "--speed", "3000", "--drop-every", "2", "--replay-last", "25"
    )
    proc = None
    try:
        proc = start_capture(cap, tmp_path / "spool", port, tmp_path / "cap.log", "--flush-seconds", "1")
        assert wait_for(lambda: captured_everything(cap, want), 50, step=1.0), (
            tmp_path / "cap.log"
        ).read_text()
        assert stop(proc) == 0
    finally:
        stop(rs)
        if proc is not None:
            stop(proc)
    got = lake_raw_lines(cap)
    log = (tmp_path / "cap.log").read_text()
    assert log.count("replay fault: drop") >= 2  # the connection really was dropped
    assert len(got) > len(want)  # and trades were replayed as duplicates
    assert set(got) == want
    hb = json.loads((cap / "_state/capture/t1.json").read_text())
    assert (
        hb["state"] == "stopped"
        and hb["lines"] == len(got)
        and hb["reconnects"] >= 2
        and hb["spool_bytes"] == 0
    )
    a, b = build_footprint(Lake(str(src)), DAY), build_footprint(Lake(str(cap)), DAY)
    assert a.quarantined == b.quarantined
    fa, fb = footprint_files(src), footprint_files(cap)
    assert fa and fa == fb
