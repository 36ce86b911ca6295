"""`make demo` as a new user meets it: a short, readable terminal, and serving that stops on SIGTERM.

A small simulated market (DAYS=3, TICKERS=12: the Makefile's own knobs) in a temp lake, warehouse
and DAGSTER_HOME; then the serving half (`python -m assets.demo serve`, what `make demo` execs)
on free ports against that lake, stopped with SIGTERM like a terminal's Ctrl-C or a supervisor.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, free_port, wait_port

MAX_LINES = 60  # the budget before "serving"
STOP_TIMEOUT_S = 10.0  # liveness (the tree ends), not a speed benchmark


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str]]:
    root = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "dagster_home"),
        "ORDERFLOW_LAKE": str(root / "lake"),
        "ORDERFLOW_DUCKDB": str(root / "warehouse.duckdb"),
    }
    for name in ("ORDERFLOW_S3_ENDPOINT_URL", "ORDERFLOW_MIN_WAREHOUSE_TICKERS", "ORDERFLOW_ALERT_WEBHOOK"):
        env.pop(name, None)
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "demo", "SERVE=0", "DAYS=3", "TICKERS=12"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    yield env, out.stdout


def test_the_demo_prints_a_short_summary_with_its_warns_explained(demo: tuple[dict[str, str], str]) -> None:
    _, text = demo
    lines = text.split("\n")  # the simulator's progress bar redraws one line with \r
    assert len(lines) <= MAX_LINES, text
    assert not [line for line in lines if "DEBUG" in line], text
    assert "Traceback" not in text
    # the small market fails WARN checks by construction: each is printed with why it is expected
    failed = [line for line in lines if line.startswith("  WARN ") or line.startswith("  ERROR ")]
    assert failed, text
    assert all(": expected: " in line for line in failed), failed
    assert "summary: status=OK" in text


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def test_serving_stops_with_its_whole_process_tree_on_sigterm(demo: tuple[dict[str, str], str]) -> None:
    env, _ = demo
    ui, api = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assets.demo", "serve", "--host", "127.0.0.1"]
        + ["--ui-port", str(ui), "--api-port", str(api)],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tree: list[psutil.Process] = []
    try:
        wait_port(api, timeout=120)
        wait_port(ui, timeout=180)  # dagster dev loads the code location on 2 shared cores
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(tree) >= 4  # this process, dagster dev (+ webserver, daemon), the API
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(tree)
        assert not left, [(p.pid, p.ppid(), p.cmdline()) for p in left]
        out, _ = proc.communicate(timeout=5)
        assert proc.returncode == 0, out
        assert "serving:" in out and "serve-logs/dagster-dev.log" in out
        assert "DEBUG" not in out  # the daemon's and webserver's lines went to the log file
        log = Path(env["DAGSTER_HOME"]) / "serve-logs" / "dagster-dev.log"
        assert log.stat().st_size > 0
    finally:
        if proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree = tree or [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            proc.kill()
            proc.wait()
        # only the demo's own tree: this worker's other children (the session's moto server) stay
        for p in _alive(tree):
            p.kill()
