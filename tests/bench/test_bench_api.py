"""Benchmark: GET /footprint/summary for a full-market summary under 50 concurrent clients.

The server is the real app in its own uvicorn process on loopback (so the client does not share
its GIL): once the `orderflow serve` target (`orderflow_pipeline.api:app`, cached body with
ETag/gzip), once the same app with the cache switched off (every request resolves the L0 file
again) as the in-run baseline. 50 asyncio keep-alive connections loop for 10 s each (bounded:
they stop by themselves). Figures: requests/s, p50, p99; targets ≥ 500 req/s and p99 ≤ 200 ms from the
cached file. Results → bench-results/api.json. On the shared 2-core machine the absolute numbers
are noisy; the cached/uncached ratio is the stable figure.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import free_port, wait_port  # noqa: E402
from test_api import build_world  # noqa: E402

CLIENTS = 50
DURATION_S = 10.0
WARMUP_S = 1.0
N_TICKERS = 900
TARGET_RPS = 500
TARGET_P99_MS = 200

UNCACHED_APP = (
    "import sys, uvicorn\n"
    "from orderflow_pipeline.api import create_app\n"
    "from orderflow_pipeline.config import get_settings\n"
    "uvicorn.run(create_app(get_settings(), summary_ttl=0), host='127.0.0.1', port=int(sys.argv[1]),\n"
    "            log_level='warning', access_log=False)\n"
)


def start_server(env: dict[str, str], port: int, cached: bool) -> subprocess.Popen[bytes]:
    if cached:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "orderflow_pipeline.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    else:
        cmd = [sys.executable, "-c", UNCACHED_APP, str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, timeout=60)
    return proc


async def _one_connection(
    host: str,
    port: int,
    path: str,
    stop_at: float,
    measure_from: float,
    lat: list[float],
    stats: dict[str, Any],
) -> None:
    """One keep-alive HTTP/1.1 connection looping GETs (with Accept-Encoding: gzip, as a browser
    sends it). A hand-rolled client: httpx's per-request cost would otherwise be the bottleneck
    on two shared cores, and we want to measure the server."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {
                k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            t1 = time.perf_counter()
            if status != 200:
                stats["errors"] += 1
            elif stats["items"] is None:
                raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
                stats["items"] = len(json.loads(raw)["items"])
                stats["wire_bytes"] = len(body)
            if t0 >= measure_from:
                lat.append(t1 - t0)
    finally:
        writer.close()


async def load(port: int, path: str, clients: int, duration: float, warmup: float) -> dict[str, Any]:
    """`clients` concurrent keep-alive connections for warm-up + duration; latencies after warm-up."""
    lat: list[float] = []
    stats: dict[str, Any] = {"errors": 0, "items": None, "wire_bytes": None}
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    await asyncio.gather(
        *(_one_connection("127.0.0.1", port, path, stop_at, measure_from, lat, stats) for _ in range(clients))
    )
    lat.sort()
    n = len(lat)

    def pct(q: float) -> float:
        return round(lat[min(n - 1, int(q * n))] * 1000, 2) if n else float("nan")

    return {
        "requests": n,
        "rps": round(n / duration, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if n else None,
        **stats,
    }


@pytest.mark.bench
def test_bench_api_summary(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    world = build_world(tmp_path, n_tickers=N_TICKERS, dates=[date(2026, 2, 10)])
    build_s = time.perf_counter() - t0
    body = world.lake.read_bytes("features/footprint-summary.json")
    env = {
        **os.environ,
        "ORDERFLOW_LAKE": world.settings.lake,
        "ORDERFLOW_DUCKDB": world.settings.warehouse_target.location,
    }
    env.pop("ORDERFLOW_S3_ENDPOINT_URL", None)

    results: dict[str, Any] = {}
    for name, cached in (("cached", True), ("uncached_baseline", False)):
        port = free_port()
        proc = start_server(env, port, cached)
        try:
            results[name] = asyncio.run(load(port, "/footprint/summary", CLIENTS, DURATION_S, WARMUP_S))
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    cached, base = results["cached"], results["uncached_baseline"]
    out = {
        "name": "api_summary",
        "clients": CLIENTS,
        "duration_s": DURATION_S,
        "tickers": N_TICKERS,
        "summary_bytes": len(body),
        "world_build_s": round(build_s, 1),
        "cached": cached,
        "uncached_baseline": base,
        "ratio_rps_cached_vs_uncached": round(cached["rps"] / base["rps"], 2) if base["rps"] else None,
        "ratio_p99_uncached_vs_cached": round(base["p99_ms"] / cached["p99_ms"], 2)
        if cached["p99_ms"]
        else None,
        "targets": {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS},
        "targets_met": cached["rps"] >= TARGET_RPS and cached["p99_ms"] <= TARGET_P99_MS,
        "cpu_count": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    dest = ROOT / "bench-results"
    dest.mkdir(exist_ok=True)
    (dest / "api.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))

    # Every request answered with the full-market document; the cache is what makes it fast.
    assert cached["errors"] == 0 and base["errors"] == 0
    assert cached["items"] == base["items"] == N_TICKERS
    assert cached["rps"] > base["rps"]
