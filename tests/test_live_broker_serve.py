"""The live broker end to end, real processes only: `orderflow replay-server` -> `orderflow
capture` with ORDERFLOW_LIVE_BROKER -> Debian's redis-server (started here) -> `orderflow serve`
replicas. What each replica shows at the end must equal the footprint layer's candles of the lake
the capture wrote (`build_footprint`), for every ticker, each trade once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import live_lab
from live_lab import captured_everything, day_lines, start_capture, start_replay, stop, wait_for

from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.storage.lake import Lake
from tests.conftest import free_port
from tests.redisserver import RedisServer, redis_server  # noqa: F401  (the fixture)
from tests.test_live_api import Serve
from tests.test_live_engine import batch_candles

src = live_lab.src  # the simulated day (pytest finds a fixture by its name in the module)
DAY = live_lab.DAY


def replica(lake: Path, url: str, log: Path) -> Serve:
    """An API replica on "another host": its own (empty) lake folder and no spool, so whatever it
    shows came through the broker."""
    os.environ["ORDERFLOW_LIVE_BROKER"] = url
    try:
        return Serve(lake, lake.parent / "no-spool", log)
    finally:
        del os.environ["ORDERFLOW_LIVE_BROKER"]


def state(srv: Serve) -> dict[str, Any]:
    return {"status": srv.get("/live/status"), "summary": srv.get("/live/summary")}


def candles_of(srv: Serve, tickers: list[str]) -> dict[str, Any]:
    return {t: srv.get(f"/live/footprint?kode={t}")["candles"] for t in tickers}


def batch_of(cap: Path) -> dict[str, list[dict[str, Any]]]:
    lake = Lake(str(cap))
    build_footprint(lake, DAY)
    return batch_candles(lake)


def test_capture_to_redis_to_two_replicas_one_restarted(
    src: Path,
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    want = set(day_lines(Lake(str(src))))
    a = replica(tmp_path / "a" / "lake", redis_server.url, tmp_path / "a.log")
    b = replica(tmp_path / "b" / "lake", redis_server.url, tmp_path / "b.log")
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "1500")
    cap = start_capture(tmp_path / "cap", tmp_path / "spool", port, tmp_path / "cap.log",
                        ORDERFLOW_LIVE_BROKER=redis_server.url)  # fmt: skip
    try:
        # replica b is killed (-9) a third of the way through and started again mid-session
        assert wait_for(lambda: a.get("/live/status")["trades"] > len(want) // 3, 60)
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        assert wait_for(lambda: a.get("/live/status")["trades"] > len(want) // 2, 60)
        b = replica(tmp_path / "b" / "lake", redis_server.url, tmp_path / "b2.log")
        assert b.get("/live/status")["trades"] > len(want) // 2  # rebuilt before it answers
        assert wait_for(lambda: captured_everything(tmp_path / "cap", want), 90)
        assert stop(cap) == 0
        want_candles = batch_of(tmp_path / "cap")
        for srv in (a, b):
            assert wait_for(lambda srv=srv: candles_of(srv, sorted(want_candles)) == want_candles, 30), (
                srv.url
            )
        sa, sb = state(a), state(b)
        assert sa["status"]["trades"] == sb["status"]["trades"]
        assert sa["status"]["broker"]["state"] == "up" and sa["status"]["capture"]["capture_id"] == "t1"
        drop = ("generated_at",)
        assert {k: v for k, v in sa["summary"].items() if k not in drop} == {
            k: v for k, v in sb["summary"].items() if k not in drop
        }
        assert not list((tmp_path / "a" / "lake").rglob("raw_lt/**/*.jsonl"))  # all came by Redis
    finally:
        stop(cap)
        stop(rs)
        a.stop()
        b.stop()


def test_redis_killed_mid_capture_loses_nothing(
    src: Path,
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """kill -9 of Redis (no persistence: it comes back empty) while trades stream: the capture
    keeps capturing (spool, lake), re-publishes its backlog; the replica, which reads the lake
    too, ends with exactly the batch's candles."""
    want = set(day_lines(Lake(str(src))))
    srv = replica(tmp_path / "cap", redis_server.url, tmp_path / "serve.log")  # shares the capture's lake
    rs, port = start_replay(src, tmp_path / "rs.log", "--speed", "1500")
    cap = start_capture(tmp_path / "cap", tmp_path / "spool", port, tmp_path / "cap.log",
                        ORDERFLOW_LIVE_BROKER=redis_server.url)  # fmt: skip
    try:
        assert wait_for(lambda: srv.get("/live/status")["trades"] > len(want) // 4, 60)
        redis_server.kill()
        assert wait_for(lambda: srv.get("/live/status")["broker"]["state"] == "down", 20)
        hb = tmp_path / "spool" / "heartbeat.json"
        assert wait_for(lambda: "broker_down" in json.loads(hb.read_text()).get("problems", {}), 20)
        redis_server.start()
        assert wait_for(lambda: captured_everything(tmp_path / "cap", want), 90)
        assert stop(cap) == 0  # the outage never failed the capture
        want_candles = batch_of(tmp_path / "cap")
        assert wait_for(lambda: candles_of(srv, sorted(want_candles)) == want_candles, 30)
        assert srv.get("/live/status")["broker"]["state"] == "up"
    finally:
        stop(cap)
        stop(rs)
        srv.stop()
    assert "Traceback" not in (tmp_path / "cap.log").read_text()


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = live_lab.env_for(tmp_path / "lake", **env)
    return subprocess.run([sys.executable, "-m", "orderflow_pipeline.cli", *args], env=e,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_bad_broker_url_is_one_line_and_an_unreachable_one_does_not_stop_serve(tmp_path: Path) -> None:
    bad = "http://10.0.0.5:6379"
    for args in (("serve", "--port", str(free_port())),
                 ("capture", "--url", "ws://127.0.0.1:1/socketcluster/", "--duration", "1")):  # fmt: skip
        r = run_cli(tmp_path, *args, ORDERFLOW_LIVE_BROKER=bad)
        assert r.returncode == 2, r
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "ORDERFLOW_LIVE_BROKER" in lines[0] and bad in lines[0], r.stderr
    # a well-formed URL with nothing behind it: serve starts, and says the broker is down
    os.environ["ORDERFLOW_LIVE_BROKER"] = f"redis://127.0.0.1:{free_port()}/0"
    try:
        srv = Serve(tmp_path / "lake", tmp_path / "no-spool", tmp_path / "serve.log")
    finally:
        del os.environ["ORDERFLOW_LIVE_BROKER"]
    try:
        body = srv.get("/live/summary")
        assert body["status"] == "NO_LIVE" and body["reason"] == "BROKER_DOWN", body
        assert httpx.get(srv.url + "/health", timeout=30).status_code == 200
    finally:
        srv.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and "unavailable" in log
