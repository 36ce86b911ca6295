"""Shared by the live path's end-to-end test, its kill tests and its benchmark (issue 26).

Real processes on loopback, nothing in between: `orderflow replay-server` (fixed trades/s, drops
and replays, a send log of each trade's first send), `orderflow capture` and `orderflow serve`,
both started in one working directory with default spool settings so they find each other the
way an operator's two commands do (the capture spools under ./data/capture-spool/{id}, the API
tails every folder there). A client on `/live/stream` records each `candle` event with its wall
receive time; `visibility` pairs them with the send log: a trade is visible at the first candle
event of its ticker-minute whose `vol` covers it (the minute's counted lots sent up to and
including it; the server sends in trade order, so that is exactly "includes it").

The references are the batch layers over the lake the capture wrote: `orderflow materialize`
(a real Dagster run) builds the footprint hour files and the summary document; `batch_candles`
reads the candles back the way the footprint layer's own tests do.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
from conftest import free_port, wait_port
from live_lab import DAY, env_for, start_replay, wait_for
from test_live_engine import batch_candles

from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.sources.ipot.capture.spool import envelope
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

ROOT = Path(__file__).resolve().parents[1]
CAPTURE_ID = "live1"
# What the batch run builds for the comparison (the features layer needs broker summaries, which a
# captured lake does not hold; the summary's context comes from the warehouse either way).
BATCH_LAYERS = "footprint,warehouse,summary"
# Summary fields that stamp wall time or name the path, not the market.
VOLATILE = {"generated_at", "source"}

__all__ = ["DAY", "batch_candles", "wait_for"]


def source_day(root: Path, n_tickers: int, trade_scale: float, seed: int = 26) -> list[str]:
    """A simulated DAY in a lake at `root` (what the replay server serves); its distinct raw lines
    in send order (the replay server's own `load_day`)."""
    from orderflow_pipeline.sources.ipot.replay.server import load_day

    lake = Lake(str(root))
    simulate_range(lake, DAY, DAY, n_tickers=n_tickers, seed=seed, trade_scale=trade_scale)
    return load_day(lake, DAY)


def counted(lines: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """(ticker, trade number) -> (minute t0, lots) of every line the footprint layer counts
    (its own tape loader: regular board, de-duplicated, session rules)."""
    con = duckdb.connect()
    body = b"".join(envelope(x, 0) + b"\n" for x in lines)
    tape.load_tape(con, DAY, [body])
    start = tape.day_start_ms(DAY)
    rows = con.execute(f"SELECT ticker, trade_no, secs, vol FROM {tape.TRADES_TABLE}").fetchall()
    con.close()
    return {(str(t), int(n)): (start + int(s) // 60 * 60_000, int(v)) for t, n, s, v in rows}


# -- processes ----------------------------------------------------------------------------------
@dataclass
class Rig:
    """replay-server -> capture -> serve, each a real subprocess; `host` is their working directory."""

    tmp: Path
    src: Path
    replay_args: list[str]
    capture_args: list[str] = field(default_factory=list)
    host: Path = field(init=False)
    lake: Path = field(init=False)
    send_log: Path = field(init=False)
    replay: subprocess.Popen[bytes] | None = None
    capture: subprocess.Popen[bytes] | None = None
    serve: subprocess.Popen[bytes] | None = None
    replay_port: int = 0
    serve_port: int = 0

    def __post_init__(self) -> None:
        self.host = self.tmp / "host"
        self.host.mkdir(parents=True, exist_ok=True)
        self.lake = self.tmp / "lake"
        self.send_log = self.tmp / "sent.tsv"

    def env(self) -> dict[str, str]:
        env = env_for(self.lake, ORDERFLOW_DUCKDB=str(self.tmp / "warehouse.duckdb"),
                      DAGSTER_HOME=str(self.tmp / "dagster"))  # fmt: skip
        env.pop("ORDERFLOW_CAPTURE_SPOOL", None)  # default settings: the two find each other
        return env

    @property
    def spool(self) -> Path:
        return self.host / "data" / "capture-spool" / CAPTURE_ID

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def start_replay(self) -> None:
        self.replay, self.replay_port = start_replay(
            self.src, self.tmp / "replay.log", "--send-log", str(self.send_log), *self.replay_args
        )

    def start_capture(self) -> None:
        cmd = [sys.executable, "-m", "orderflow_pipeline.cli", "capture", "--date", DAY.isoformat(),
               "--url", f"ws://127.0.0.1:{self.replay_port}/socketcluster/", "--token", "t",
               "--capture-id", CAPTURE_ID, *self.capture_args]  # fmt: skip
        with (self.tmp / "capture.log").open("ab") as err:
            self.capture = subprocess.Popen(
                cmd, cwd=self.host, env=self.env(), stdout=subprocess.DEVNULL, stderr=err
            )

    def start_serve(self, timeout: float = 60) -> None:
        self.serve_port = free_port()
        cmd = [sys.executable, "-m", "orderflow_pipeline.cli", "serve", "--port", str(self.serve_port)]
        with (self.tmp / "serve.log").open("ab") as err:
            self.serve = subprocess.Popen(
                cmd, cwd=self.host, env=self.env(), stdout=subprocess.DEVNULL, stderr=err
            )
        wait_port(self.serve_port, timeout)

    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    def sent(self) -> list[tuple[int, str]]:
        """(wall ns, raw line) of every trade's first send so far."""
        if not self.send_log.exists():
            return []
        rows = (x.split("\t", 1) for x in self.send_log.read_text().splitlines())
        return [(int(ns), raw) for ns, raw in rows]

    def materialize(self) -> dict[str, Any]:
        """`orderflow materialize` of DAY over the captured lake (a real Dagster run)."""
        home = self.tmp / "dagster"
        home.mkdir(exist_ok=True)
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        out = subprocess.run(
            [sys.executable, "-m", "assets.cli", "materialize", "--date", DAY.isoformat(), "--layers", BATCH_LAYERS],
            cwd=self.host, env=self.env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-4000:]
        doc: dict[str, Any] = Lake(str(self.lake)).read_json(keys.summary_key(DAY))
        return doc

    def close(self) -> None:
        for p in (self.serve, self.capture, self.replay):
            stop(p)


def stop(p: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def kill9(p: subprocess.Popen[bytes] | None) -> None:
    assert p is not None and p.poll() is None, "the process was already gone"
    p.send_signal(signal.SIGKILL)
    p.wait()


# -- the stream client --------------------------------------------------------------------------
class CandleClock:
    """A real SSE client on /live/stream (its own thread): (receive wall ns, ticker, t0, vol) of
    every `candle` event. On `reload` it does what a dashboard does: reads the snapshot
    (`/live/summary` for the tickers, `/live/footprint` for each), whose candles count as seen
    when they arrive (a restart of the engine publishes its rebuild that way, not as events)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.candles: list[tuple[int, str, int, int]] = []
        self.reloads = 0
        self.connected = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.connected.wait(60), "the stream did not answer"

    def _run(self) -> None:
        with httpx.stream("GET", self.base + "/live/stream", timeout=httpx.Timeout(60, read=None)) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            self.connected.set()
            kind = ""
            try:
                for line in r.iter_lines():
                    if self._stop:
                        return
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "candle":
                        c = json.loads(line[6:])
                        self.candles.append((time.time_ns(), c["t"], int(c["t0"]), int(c["vol"])))
                    elif line.startswith("data: ") and kind == "reload":
                        self.reloads += 1
                        self._snapshot()
            except httpx.HTTPError:
                if not self._stop:
                    raise

    def _snapshot(self) -> None:
        summary = httpx.get(self.base + "/live/summary", timeout=60).json()
        for item in summary.get("items") or []:
            body = httpx.get(self.base + f"/live/footprint?kode={item['t']}", timeout=60).json()
            ns = time.time_ns()
            self.candles += [(ns, item["t"], int(c["t0"]), int(c["vol"])) for c in body["candles"]]

    def close(self) -> None:
        self._stop = True


class Listeners:
    """n more SSE clients that only drain the stream (the benchmark's load), one thread each."""

    def __init__(self, url: str, n: int) -> None:
        self.bytes = [0] * n
        self._stop = False
        self._threads = [threading.Thread(target=self._run, args=(url, i), daemon=True) for i in range(n)]
        for t in self._threads:
            t.start()

    def _run(self, url: str, i: int) -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(60, read=None)) as r:
                for chunk in r.iter_raw():
                    self.bytes[i] += len(chunk)
                    if self._stop:
                        return
        except httpx.HTTPError:
            return

    def close(self) -> None:
        self._stop = True


def visibility(
    sent: list[tuple[int, str]], trades: dict[tuple[str, int], tuple[int, int]], clock: CandleClock
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[tuple[str, int]]]:
    """(latency in s of each counted trade that became visible, the counted trades that did not).

    A trade's need = the counted lots of its ticker-minute sent up to and including it; it is
    visible at the first candle event of that ticker-minute whose vol >= need (first index where the
    running maximum of vol reaches it, so out-of-order events cannot fake an earlier time)."""
    events: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for ns, t, t0, vol in list(clock.candles):
        events[(t, t0)].append((ns, vol))
    run_max = {k: np.maximum.accumulate([v for _, v in ev]) for k, ev in events.items()}
    cum: dict[tuple[str, int], int] = defaultdict(int)
    lat: list[float] = []
    missing: list[tuple[str, int]] = []
    for ns, raw in sent:
        f = raw.split("|")
        key = (f[3], int(f[5]))
        if key not in trades:
            continue  # not order flow (other board, outside the rules): never in a candle
        t0, lots = trades[key]
        cum[(f[3], t0)] += lots
        need = cum[(f[3], t0)]
        mx = run_max.get((f[3], t0))
        i = int(np.searchsorted(mx, need)) if mx is not None else 0
        if mx is None or i >= len(mx):
            missing.append(key)
            continue
        lat.append((events[(f[3], t0)][i][0] - ns) / 1e9)
    return np.array(lat, dtype=np.float64), missing


# -- the references -----------------------------------------------------------------------------
def live_footprints(rig: Rig, tickers: set[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for t in sorted(tickers):
        body = rig.get(f"/live/footprint?kode={t}")
        assert body["t"] == t and body["date"] == DAY.isoformat(), body
        out[t] = body["candles"]
    return out


def assert_live_equals_batch(rig: Rig, live_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """After `orderflow materialize` of the captured lake: every ticker's /live/footprint equals
    the footprint layer's candles, and (when given) the live summary equals the batch document in
    every field but timestamps and source. Returns the batch summary."""
    batch_doc = rig.materialize()
    want = batch_candles(Lake(str(rig.lake)))
    assert want, "the batch built no candles"
    got = live_footprints(rig, set(want))
    bad = [t for t in want if got[t] != want[t]]
    assert not bad, f"live != batch for {len(bad)} tickers, e.g. {bad[:5]}"
    status = rig.get("/live/status")
    assert status["trades"] == batch_trades(rig.lake), status  # each trade once
    if live_summary is not None:
        assert live_summary["source"] == "live" and batch_doc["source"] != "live"
        assert live_summary["items"] == batch_doc["items"]
        assert {k: v for k, v in live_summary.items() if k not in VOLATILE} == {
            k: v for k, v in batch_doc.items() if k not in VOLATILE
        }
    return batch_doc


def batch_trades(lake_root: Path) -> int:
    """Trades the footprint layer counts in the captured lake (its loader, all objects at once)."""
    from orderflow_pipeline.storage.inventory import tape_objects

    lake = Lake(str(lake_root))
    objs = tape_objects(lake, DAY)
    blobs = lake.cat_many(list(objs))
    con = duckdb.connect()
    load = tape.load_tape(con, DAY, [tape.object_text(k, blobs[k]) for k in objs])
    con.close()
    return int(load.trades)


def percentiles(lat: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    return {
        "p50_s": round(float(np.percentile(lat, 50)), 4),
        "p99_s": round(float(np.percentile(lat, 99)), 4),
        "max_s": round(float(lat.max()), 4),
        "trades": int(lat.size),
    }


def wait_all_sent(rig: Rig, n: int, timeout: float) -> None:
    assert wait_for(lambda: len(rig.sent()) >= n, timeout, step=0.5), (
        f"replay sent {len(rig.sent())} of {n}: {(rig.tmp / 'replay.log').read_text()[-2000:]}"
    )
