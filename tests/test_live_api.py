"""`orderflow serve` runs the live path for real (SPEC §16): a trade appended to the capture's
spool (by the capture's own `Spool` class, as `orderflow capture` writes it) reaches a client on
`/live/stream` as a `candle` event whose vol includes it; `/live/footprint` equals the footprint
layer's candles of the same lines; a restart of the API (part of the day in the lake, part still
in the spool, one segment in both) rebuilds the same state, nothing counted twice."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.sources.ipot.capture.spool import Spool
from orderflow_pipeline.storage.lake import Lake
from tests.conftest import free_port, wait_port
from tests.live_lab import env_for
from tests.test_live_engine import DAY, RAW, batch_candles


class Serve:
    """`python -m orderflow_pipeline.cli serve` on a free port, with the lake and spool given."""

    def __init__(self, lake_root: Path, spool: Path, log: Path) -> None:
        self.port = free_port()
        env = env_for(lake_root, ORDERFLOW_CAPTURE_SPOOL=str(spool),
                      ORDERFLOW_DUCKDB=str(lake_root.parent / "warehouse.duckdb"))  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orderflow_pipeline.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )
        wait_port(self.port, 60)
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class StreamReader:
    """A real SSE client on /live/stream in a thread: (receive time, event, data) of every event."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.connected = threading.Event()
        self._thread.start()
        assert self.connected.wait(30)

    def _run(self, url: str) -> None:
        with httpx.stream("GET", url, timeout=httpx.Timeout(60, read=None)) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            self.connected.set()
            kind = ""
            for line in r.iter_lines():
                if self._stop:
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((time.monotonic(), kind, json.loads(line[6:])))

    def wait_for(self, pred: Any, timeout: float = 20) -> tuple[float, str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if pred(e):
                    return e
            time.sleep(0.01)
        raise AssertionError(
            f"no matching event in {timeout}s; got {[(k, d) for _, k, d in self.events][-5:]}"
        )

    def close(self) -> None:
        self._stop = True


def new_trade(ticker: str, trade_no: int, price: int, lots: int) -> str:
    """A continuous-session regular-board trade at 09:00:09 WIB, buyer-initiated ([14] set)."""
    return f"B|090009|0|{ticker}|RG|{trade_no}|{price}|{lots}|--|-|--|-|{price}|0|77|0|0|{price}|0|1"


def test_serve_streams_spool_trades_and_survives_a_restart(tmp_path: Path, real: Path) -> None:
    lake_root, spool_dir, log = tmp_path / "lake", tmp_path / "spool" / "cap1", tmp_path / "serve.log"
    lake = Lake(str(lake_root))
    lines = (real / RAW).read_bytes().splitlines(keepends=True)
    # the first 200 lines were captured, sealed and uploaded before the API starts
    lake.write_bytes("raw_lt/2026/02/18/02/1771380003400_cap1_200.jsonl", b"".join(lines[:200]))
    spool = Spool(spool_dir, "cap1")
    spool.append(DAY, b"".join(lines[200:300]), 100)  # the open segment, not sealed yet
    spool.fsync()

    # the batch of exactly the same lines, for comparison
    batch = Lake(str(tmp_path / "batch"))
    batch.write_bytes("raw_lt/2026/02/18/02/a.jsonl", b"".join(lines[:300]))
    build_footprint(batch, DAY)

    srv = Serve(lake_root, spool_dir, log)
    try:
        status = srv.get("/live/status")
        assert status["status"] == "LIVE" and status["date"] == DAY.isoformat(), status
        assert status["trades"] == 300
        want = batch_candles(batch)
        for t in want:
            assert srv.get(f"/live/footprint?kode={t}") == {"t": t, "date": "2026-02-18", "candles": want[t]}
        adro_vol = sum(c["vol"] for c in want["ADRO"])

        reader = StreamReader(srv.url + "/live/stream?kode=ADRO")
        trade = new_trade("ADRO", 990001, 2210, 777)
        env = json.dumps({"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": trade, "ts": 1771380010000,
                          "ts_quality": "ingestion"}, separators=(",", ":")).encode() + b"\n"  # fmt: skip
        sent = time.monotonic()
        spool.append(DAY, env, 1)
        at, _, candle = reader.wait_for(
            lambda e: e[1] == "candle" and e[2]["vol"] >= 777 and e[2]["t"] == "ADRO"
        )
        # the trade is in minute 09:00 WIB = 02:00 UTC; the candle's vol includes its 777 lots
        assert candle["t0"] == 1771380000000 and candle["vol"] == adro_vol + 777
        assert any(lv["p"] == 2210 and lv["bv"] >= 777 for lv in candle["levels"])  # buyer-initiated
        latency = at - sent
        print(f"spool append -> candle event: {latency * 1000:.0f} ms")
        reader.wait_for(lambda e: e[1] == "status")
        reader.close()

        batch.write_bytes("raw_lt/2026/02/18/02/b.jsonl", env)
        build_footprint(batch, DAY)
        want = batch_candles(batch)
        for t in want:
            assert srv.get(f"/live/footprint?kode={t}")["candles"] == want[t], t
        summary = srv.get("/live/summary")
        assert summary["source"] == "live" and summary["count"] == len(want)
        before = {t: srv.get(f"/live/footprint?kode={t}")["candles"] for t in want}
    finally:
        srv.stop()

    # While the API is down: the open segment is sealed and uploaded (the capture's path), and a
    # new segment gets the rest of the tape plus a replay of lines already in the lake.
    sealed = spool.seal()
    assert sealed is not None
    lake.write_bytes(sealed.key, sealed.path.read_bytes())  # uploaded but not deleted yet: in both
    spool.append(DAY, b"".join(lines[150:]), len(lines) - 150)
    spool.fsync()
    batch.write_bytes("raw_lt/2026/02/18/02/c.jsonl", b"".join(lines[300:]))
    build_footprint(batch, DAY)
    want = batch_candles(batch)

    srv = Serve(lake_root, spool_dir, log)
    try:
        status = srv.get("/live/status")
        assert status["trades"] == 386 + 1, status  # every fixture trade and the new one, once
        got = {t: srv.get(f"/live/footprint?kode={t}")["candles"] for t in want}
        assert got == want
        assert all(got[t] == before[t] for t in before if t not in {json.loads(x)["raw"].split("|")[3]
                                                                   for x in lines[300:]})  # fmt: skip
    finally:
        srv.stop()
        spool.close()


def test_no_live_without_a_capture(tmp_path: Path) -> None:
    srv = Serve(tmp_path / "lake", tmp_path / "no-spool", tmp_path / "serve.log")
    try:
        for path in ("/live/summary", "/live/footprint?kode=BBRI"):
            body = srv.get(path)
            assert body["status"] == "NO_LIVE" and body["reason"] == "NO_TRADES", body
    finally:
        srv.stop()
