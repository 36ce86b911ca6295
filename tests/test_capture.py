"""`orderflow capture` against `orderflow replay-server`: real processes, a real WebSocket server on
loopback, real lakes (local folders), a local alert webhook. Acceptance of issue 18 (first half).

"materialize" here is the footprint layer (`footprint.build_footprint`, the step that turns tape
into candles; the warehouse and summary only copy/aggregate those candles): the candles built from
the captured lake must be byte-identical to those built from the replayed day's own tape."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from live_lab import (
    DAY,
    Receiver,
    day_lines,
    lake_raw_lines,
    simulated_lake,
    spool_raw_lines,
    start_capture,
    start_replay,
    stop,
    wait_for,
)

from orderflow_pipeline.capture.spool import Spool, envelope, object_key
from orderflow_pipeline.footprint import build_footprint
from orderflow_pipeline.keys import trade_date_of_raw_key
from orderflow_pipeline.lake import Lake


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src") / "lake"
    simulated_lake(root)
    return root


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def footprint_files(root: Path) -> dict[str, bytes]:
    base = root / "footprint"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(base.rglob("*.jsonl"))}


def captured_everything(cap: Path, want: set[str]) -> bool:
    return set(lake_raw_lines(cap)) >= want


# -- the spool on its own ------------------------------------------------------------------------
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
        cap.unlink()
        away.rename(cap)
        assert wait_for(lambda: captured_everything(cap, want), 40, step=1.0), (
            tmp_path / "cap.log"
        ).read_text()
        assert stop(proc) == 0
    finally:
        stop(rs)
        if proc is not None:
            stop(proc)
        if cap.is_file():
            cap.unlink()
            away.rename(cap)
    assert set(lake_raw_lines(cap)) == want
    log = (tmp_path / "cap.log").read_text()
    assert "lake write failed" in log and "lake writable again" in log
    assert json.loads((cap / "_state/capture/t1.json").read_text())["spool_bytes"] == 0


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


def test_duration_stops_flushed(src: Path, tmp_path: Path) -> None:
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "500")
    try:
        t0 = time.time()
        proc = start_capture(
            tmp_path / "cap", tmp_path / "spool", port, tmp_path / "cap.log", "--duration", "3"
        )
        assert proc.wait(30) == 0
        assert time.time() - t0 < 20
    finally:
        stop(rs)
    got = lake_raw_lines(tmp_path / "cap")
    hb = json.loads((tmp_path / "cap/_state/capture/t1.json").read_text())
    assert got and hb["lines"] == len(got) and hb["spool_bytes"] == 0


def test_token_refresh_after_repeated_failures(src: Path, tmp_path: Path) -> None:
    """The feed refuses the configured token (HTTP 403); after 3 failed connects the capture fetches
    a new one from ORDERFLOW_IPOT_TOKEN_URL (a page like indopremier.com/ipc/appsession.js) and gets in."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = b'var x = 1;\nwindow.appsession = "fresh-token-42";\n'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    page = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "500", "--token", "fresh-token-42")
    try:
        proc = start_capture(
            tmp_path / "cap",
            tmp_path / "spool",
            port,
            tmp_path / "cap.log",
            "--duration",
            "8",
            ORDERFLOW_IPOT_TOKEN_URL=f"http://127.0.0.1:{page.server_address[1]}/ipc/appsession.js",
        )
        assert proc.wait(40) == 0
    finally:
        stop(rs)
        page.shutdown()
        page.server_close()
    log = (tmp_path / "cap.log").read_text()
    assert "HTTP 403" in log and "token refreshed (fres…, changed)" in log
    assert "fresh-token-42" not in log  # never more than the first characters
    assert lake_raw_lines(tmp_path / "cap")
