"""`/health` shows the live engine (SPEC §16 Interface): running with the newest trade, trades so
far and the clients on /live/stream; no_live with the reason; not_running without the lifespan."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from orderflow_pipeline.api import create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.sources.ipot.capture.spool import Spool
from tests.test_live_api import Serve, StreamReader
from tests.test_live_engine import DAY, RAW


def test_health_shows_the_live_engine(tmp_path: Path, real: Path) -> None:
    spool_dir = tmp_path / "spool" / "cap1"
    spool = Spool(spool_dir, "cap1")
    body = (real / RAW).read_bytes()
    spool.append(DAY, body, body.count(b"\n"))
    spool.fsync()
    srv = Serve(tmp_path / "lake", spool_dir, tmp_path / "serve.log")
    try:
        srv.get("/live/status")  # waits for the rebuild
        live = srv.get("/health")["live"]
        # 386 fixture lines = 386 trades (tests/test_live_api.py); the latest time field [1] is 090008
        assert (live["state"], live["reason"], live["date"], live["trades"]) == (
            "running",
            None,
            "2026-02-18",
            386,
        )
        assert live["newest_trade_time"] == "2026-02-18T09:00:08+07:00" and live["clients"] == 0, live
        reader = StreamReader(srv.url + "/live/stream")
        assert srv.get("/health")["live"]["clients"] == 1
        reader.close()
    finally:
        srv.stop()
        spool.close()


def test_health_says_no_live_and_not_running(tmp_path: Path) -> None:
    srv = Serve(tmp_path / "lake", tmp_path / "no-spool", tmp_path / "serve.log")
    try:
        srv.get("/live/status")
        live = srv.get("/health")["live"]
        assert (live["state"], live["reason"], live["trades"]) == ("no_live", "NO_TRADES", 0), live
    finally:
        srv.stop()
    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'wh.duckdb'}")
    live = TestClient(create_app(settings)).get("/health").json()["live"]  # no lifespan: no engine
    assert live["state"] == "not_running" and live["reason"] == "NOT_RUNNING"
