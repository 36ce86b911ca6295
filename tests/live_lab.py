"""Shared by the live-capture tests: a small simulated day in a lake, the replay server and the
capture as real subprocesses (`python -m orderflow_pipeline.cli ...`) on loopback, and readers of
what a capture left in its lake and spool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake

# One Wednesday, 6 simulated tickers: ~9,000 prints, a 7.25 h session; at 3000x it streams in ~9 s.
DAY = date(2026, 2, 18)
TICKERS, SEED = 6, 11


def simulated_lake(root: Path) -> Lake:
    lake = Lake(str(root))
    simulate_range(lake, DAY, DAY, n_tickers=TICKERS, seed=SEED)
    return lake


def env_for(lake_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ORDERFLOW_LAKE"] = str(lake_root)
    env.pop("ORDERFLOW_ALERT_WEBHOOK", None)
    env.update(extra)
    return env


def start_replay(lake_root: Path, log: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start `orderflow replay-server` on a free port; returns (process, port)."""
    out = log.with_suffix(".out")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderflow_pipeline.cli",
            "replay-server",
            "--date",
            DAY.isoformat(),
            "--port",
            "0",
            *args,
        ],
        env=env_for(lake_root),
        stdout=out.open("wb"),
        stderr=log.open("wb"),
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        text = out.read_text() if out.exists() else ""
        if text.strip():
            return proc, int(json.loads(text.splitlines()[0])["port"])
        if proc.poll() is not None:
            raise RuntimeError(f"replay-server exited: {log.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("replay-server did not start")


def start_capture(
    lake_root: Path, spool: Path, port: int, log: Path, *args: str, **env: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderflow_pipeline.cli",
            "capture",
            "--url",
            f"ws://127.0.0.1:{port}/socketcluster/",
            "--token",
            "test-token",
            "--date",
            DAY.isoformat(),
            "--spool",
            str(spool),
            "--capture-id",
            "t1",
            *args,
        ],
        env=env_for(lake_root, **env),
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def day_lines(lake: Lake) -> list[str]:
    """Every distinct raw line of the day's tape objects (what the replay server serves)."""
    from orderflow_pipeline.sources.ipot.replay.server import load_day

    return load_day(lake, DAY)


def lake_raw_lines(root: Path) -> list[str]:
    """Every envelope's raw line in a lake's raw_lt/ (duplicates kept)."""
    out: list[str] = []
    for p in sorted((root / "raw_lt").rglob("*.jsonl")) if (root / "raw_lt").exists() else []:
        if p.name.startswith(".tmp-"):
            continue
        out.extend(json.loads(line)["raw"] for line in p.read_text().splitlines() if line.strip())
    return out


def footprint_files(root: Path) -> dict[str, bytes]:
    """Every footprint hour file of a lake (key -> bytes): the candles."""
    base = root / "footprint"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(base.rglob("*.jsonl"))}


def captured_everything(cap: Path, want: set[str]) -> bool:
    return set(lake_raw_lines(cap)) >= want


def spool_raw_lines(spool: Path) -> list[str]:
    """Raw lines of every complete line in the spool (what the capture had received)."""
    out: list[str] = []
    for p in sorted(spool.rglob("*.jsonl")) if spool.exists() else []:
        data = p.read_bytes()
        for line in data.split(b"\n")[:-1]:  # a torn last line was never acknowledged
            out.append(json.loads(line)["raw"])
    return out


def wait_for(pred: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def processes(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class Receiver:
    """A local alert webhook: an HTTP server on 127.0.0.1 (own thread) recording JSON POSTs."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.messages: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> set[str]:
        return {str(m.get("kind")) for m in self.messages}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Fixtures the capture test modules import (pytest finds an imported fixture by its name).
@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding the simulated DAY (tape + broker summaries), shared by a module's tests."""
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
