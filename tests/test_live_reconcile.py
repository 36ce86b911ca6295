"""`live_matches_batch` (SPEC §16 Reconciliation): the comparison (`live.reconcile`) on hand-made
candles, and the Dagster asset check on a real `orderflow serve` over a simulated day: silent on
a clean day, a WARN naming ticker and minute on a planted difference, skipped (passing) without
a live API of the date."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, materialize

from assets.checks.live import live_matches_batch
from assets.layers.footprint import footprint_ndjson
from assets.resources import LakeResource, SettingsResource
from orderflow_pipeline.live import reconcile
from orderflow_pipeline.sources.ipot.capture.spool import Spool
from orderflow_pipeline.storage.keys import WIB
from orderflow_pipeline.storage.lake import Lake
from tests.conftest import free_port
from tests.live_lab import DAY, simulated_lake
from tests.test_live_api import Serve

M = 60_000
T0 = 1771380000000  # 2026-02-18 09:00 WIB (02:00 UTC)


def candle(t0: int, vol: int, delta: int = 0) -> dict[str, Any]:
    return {"t0": t0, "ohlc": {"o": 100, "h": 101, "l": 99, "c": 100}, "vol": vol, "delta": delta,
            "levels": [{"p": 100, "bv": vol, "av": 0}]}  # fmt: skip


def test_compare_names_ticker_and_minute_of_closed_minutes_only() -> None:
    batch = {"AAAA": [candle(T0 + i * M, 10) for i in range(6)], "BBBB": [candle(T0, 5)]}
    live = {
        # 09:01 differs in vol; 09:05 (newest) and 09:04 are not closed yet: ignored even if different
        "AAAA": [{**candle(T0 + i * M, 11 if i in (1, 4, 5) else 10), "t": "AAAA"} for i in range(6)],
        "CCCC": [candle(T0 + 2 * M, 3)],  # live only
    }  # and BBBB's 09:00 is batch only
    before = reconcile.closed_before(batch)
    # newest batch minute 09:05 -> closed = t0 <= 09:03 (two minutes before)
    assert before == T0 + 4 * M
    diffs = reconcile.compare(batch, live, before)  # type: ignore[arg-type]
    assert [(d.ticker, reconcile.hhmm(d.t0)) for d in diffs] == [
        ("AAAA", "09:01"),
        ("BBBB", "09:00"),
        ("CCCC", "09:02"),
    ]
    assert diffs[0].text() == "AAAA 09:01 WIB: batch vs live: levels differ, vol 10 vs 11"
    assert diffs[1].what.startswith("batch only") and diffs[2].what.startswith("live only")
    # equal candles ("t" is the stream's ticker field, not part of the §6 candle): nothing
    same = {"AAAA": [{**c, "t": "AAAA"} for c in batch["AAAA"]], "BBBB": batch["BBBB"]}
    assert reconcile.compare(batch, same, before) == []
    assert reconcile.closed_before({}) is None


def test_outcome_skips_without_a_live_api(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    o = reconcile.live_outcome(lake, DAY, None)
    assert o.passed and o.metadata["skipped"] == "ORDERFLOW_LIVE_API_URL is not set"
    o = reconcile.live_outcome(lake, DAY, f"http://127.0.0.1:{free_port()}", timeout=2)
    assert o.passed and "unreachable" in o.metadata["skipped"], o
    assert reconcile.live_status(None)["status"] == "NOT_CONFIGURED"


@pytest.fixture(scope="module")
def live_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Path]]:
    """`orderflow serve` whose live engine holds a simulated day (all of it in the capture's
    spool), and the day's raw objects for a batch lake of exactly the same lines."""
    root = tmp_path_factory.mktemp("live_reconcile")
    src = simulated_lake(root / "source")
    keys = sorted(k for k in src.list("raw_lt/") if k.endswith(".jsonl"))
    spool = Spool(root / "spool" / "cap1", "cap1")
    for k in keys:
        body = src.read_bytes(k)
        spool.append(DAY, body, body.count(b"\n"))
    spool.fsync()
    srv = Serve(root / "serve-lake", root / "spool" / "cap1", root / "serve.log")
    try:
        assert srv.get("/live/status")["status"] == "LIVE"
        yield srv, root / "source"
    finally:
        srv.stop()
        spool.close()


def run_check(tmp_path: Path, instance: DagsterInstance, source: Path, url: str | None,
              plant: bytes = b"") -> Any:  # fmt: skip
    lake = Lake(str(tmp_path / "batch"))
    src = Lake(str(source))
    lake.write_many({k: src.read_bytes(k) for k in src.list("raw_lt/") if k.endswith(".jsonl")})
    if plant:
        lake.write_bytes("raw_lt/2026/02/18/02/1771380300000_planted_1.jsonl", plant)
    resources = {"lake": LakeResource(root=lake.root), "settings": SettingsResource(live_api_url=url)}
    result = materialize([footprint_ndjson, live_matches_batch], partition_key=DAY.isoformat(),
                         resources=resources, instance=instance, raise_on_error=False)  # fmt: skip
    assert result.success  # a WARN never fails the run
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "live_matches_batch"]
    return ev


def test_check_is_silent_on_a_clean_day(
    live_day: tuple[Serve, Path], tmp_path: Path, instance: DagsterInstance
) -> None:
    srv, source = live_day
    ev = run_check(tmp_path, instance, source, srv.url)
    detail = ev.metadata["detail"].value
    assert ev.passed, ev.description
    assert detail["differences"] == 0 and detail["tickers"] == 6, detail


def test_check_warns_naming_ticker_and_minute_of_a_planted_difference(
    live_day: tuple[Serve, Path], tmp_path: Path, instance: DagsterInstance
) -> None:
    srv, source = live_day
    # One extra trade in the batch's tape only: 09:05:30 WIB, 7 lots, a trade number no other has.
    first = json.loads(
        Lake(str(source)).read_bytes(sorted(Lake(str(source)).list("raw_lt/"))[0]).splitlines()[0]
    )
    t = first["raw"].split("|")[3]
    raw = f"B|090530|0|{t}|RG|99999901|1000|7|--|-|--|-|1000|0|77|0|0|1000|0|1"
    env = {
        "v": 2,
        "fmt": "pipe",
        "src": "ipot_ws",
        "raw": raw,
        "ts": 1771380330000,
        "ts_quality": "ingestion",
    }
    ev = run_check(tmp_path, instance, source, srv.url, plant=json.dumps(env).encode() + b"\n")
    assert not ev.passed and ev.severity.value == "WARN"
    assert f"{t} 09:05 WIB" in ev.description, ev.description
    detail = ev.metadata["detail"].value
    assert detail["differences"] == 1 and detail["listed"][0].startswith(f"{t} 09:05 WIB: batch vs live"), (
        detail
    )


def test_outcome_skips_when_the_live_engine_is_on_another_day(
    live_day: tuple[Serve, Path], tmp_path: Path
) -> None:
    srv, _ = live_day
    o = reconcile.live_outcome(Lake(str(tmp_path / "lake")), date(2026, 2, 19), srv.url)
    assert o.passed and o.metadata["skipped"] == "the live engine is on 2026-02-18, not 2026-02-19"


def test_capture_heartbeat_sensor_reports_the_live_engine(
    live_day: tuple[Serve, Path], tmp_path: Path, instance: DagsterInstance
) -> None:
    from dagster import SkipReason, build_sensor_context

    from assets.automation.sensors import capture_heartbeat as hb

    srv, _ = live_day
    trades = srv.get("/live/status")["trades"]
    evening = datetime(2026, 2, 18, 19, 0, tzinfo=WIB)
    sensor = hb.build_capture_heartbeat_sensor(clock=lambda: evening)
    for url, want in ((srv.url, f"live engine LIVE on 2026-02-18: {trades} trades"),
                      (None, "live engine NOT_CONFIGURED")):  # fmt: skip
        ctx = build_sensor_context(
            instance=instance,
            resources={
                "lake": LakeResource(root=str(tmp_path / "lake")),
                "settings": SettingsResource(live_api_url=url),
            },
        )
        out = sensor(ctx)
        assert isinstance(out, SkipReason) and want in str(out.skip_message), out.skip_message
        cursor = json.loads(ctx.cursor or "{}")
        assert cursor["status"] == ("LIVE" if url else "NOT_CONFIGURED")
        if url:
            assert (cursor["date"], cursor["trades"]) == ("2026-02-18", trades)
