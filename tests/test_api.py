"""The HTTP API (SPEC §10, §11 read side, §13) on a real lake folder and a real DuckDB file.

The world: 40 tickers with minute candles on four trading days (2026-02-05, -06, -09, -10), written
as §6 NDJSON hour files to the lake and loaded into the warehouse by the warehouse layer itself
(`warehouse.load.consolidate`); the per-date and L0 summaries are built by `summary.build_summary`. The
app's clock is pinned to Thu 2026-02-12 10:00 WIB, so the read-side chain looks back from there:
2026-02-11 (1 session ago, no data) then 2026-02-10 (2 sessions ago).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from orderflow_pipeline.api import MAX_RANGE_DAYS, create_app
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary.liquidity import INSTRUMENTS
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import schema

DATES = [date(2026, 2, 5), date(2026, 2, 6), date(2026, 2, 9), date(2026, 2, 10)]
NEWEST = DATES[-1]
NOW = datetime(2026, 2, 12, 3, 0, tzinfo=timezone.utc)  # Thu 10:00 WIB
SATURDAY = datetime(2026, 2, 14, 3, 0, tzinfo=timezone.utc)
WIB = timezone(timedelta(hours=7))


# --------------------------------------------------------------------------------------------
# World builder (shared with tests/test_dashboard_browser.py and tests/bench/test_bench_api.py)
# --------------------------------------------------------------------------------------------
def ticker_names(n: int) -> list[str]:
    return [f"T{i:03d}" for i in range(n)]


def make_candles(ticker: str, d: date, seed: int) -> list[dict[str, Any]]:
    """A ticker-day of valid §6 candles with a planted delta share and price drift.

    Minutes 09:00–09:44 and 10:00–10:29 WIB (UTC hours 02 and 03). delta = Σbv − Σav and
    Σ(bv+av) = vol, so every line passes the §6 validator.
    """
    rng = random.Random(f"{ticker}-{d}-{seed}")
    delta_share = rng.uniform(-0.9, 0.9)
    drift = rng.uniform(-0.09, 0.06)
    tick = rng.choice([1, 5, 25])
    base = rng.randrange(40, 400) * tick
    minutes = [(9, m) for m in range(45)] + [(10, m) for m in range(30)]
    n = len(minutes)
    out, prev = [], base
    for i, (hh, mm) in enumerate(minutes):
        close = max(tick, int(round(base * (1 + drift * (i + 1) / n) / tick)) * tick)
        o, c = prev, close
        h, low = max(o, c) + tick, max(tick, min(o, c) - tick)
        vol = rng.randrange(10, 600)
        bv = max(0, min(vol, round(vol * (1 + delta_share + rng.uniform(-0.1, 0.1)) / 2)))
        av = vol - bv
        levels = (
            [{"p": c, "bv": bv, "av": av}]
            if o == c
            else sorted(
                [{"p": o, "bv": bv // 2, "av": av // 2}, {"p": c, "bv": bv - bv // 2, "av": av - av // 2}],
                key=lambda lv: lv["p"],
            )
        )
        t0 = int(datetime(d.year, d.month, d.day, hh, mm, tzinfo=WIB).timestamp() * 1000)
        out.append(
            {
                "t0": t0,
                "ohlc": {"o": o, "h": h, "l": low, "c": c},
                "vol": vol,
                "delta": bv - av,
                "levels": levels,
            }
        )
        prev = c
    return out


def hour_files(ticker: str, candles: list[dict[str, Any]]) -> dict[str, bytes]:
    by_key: dict[str, list[bytes]] = {}
    for c in candles:
        hour = datetime.fromtimestamp(c["t0"] // 3_600_000 * 3600, tz=timezone.utc)
        by_key.setdefault(keys.footprint_key(ticker, hour), []).append(dumps(c))
    return {k: b"\n".join(v) + b"\n" for k, v in by_key.items()}


@dataclass
class World:
    root: Path
    settings: Settings
    lake: Lake
    candles: dict[tuple[str, date], list[dict[str, Any]]]
    tickers: list[str]

    def app(self, **kw: Any):  # noqa: ANN201
        kw.setdefault("clock", lambda: NOW)
        return create_app(self.settings, **kw)


def load_warehouse(lake: Lake, con: duckdb.DuckDBPyConnection, dates: list[date]) -> None:
    """The warehouse layer's own incremental load of the lake's hour files (with its manifest)."""
    from orderflow_pipeline.warehouse.load import consolidate

    for d in dates:
        res = consolidate(lake, con, d)
        assert res.objects_listed > 0


def build_world(
    root: Path,
    n_tickers: int = 40,
    *,
    seed: int = 7,
    summary: bool = True,
    dates: list[date] = DATES,
    lake: Lake | None = None,
    endpoint: str | None = None,
) -> World:
    lake = lake or Lake(str(root / "lake"))
    # T### codes are no IDX form and the synthetic values are arbitrary: this world's liquid view
    # keeps every item (tests/test_dashboard_liquidity.py covers the default view)
    settings = Settings(
        lake=lake.root, s3_endpoint_url=endpoint, warehouse=f"duckdb:{root / 'warehouse.duckdb'}",
        min_traded_value=0, liquid_kinds=INSTRUMENTS,
    )  # fmt: skip
    tickers = ticker_names(n_tickers)
    candles: dict[tuple[str, date], list[dict[str, Any]]] = {}
    objects: dict[str, bytes] = {}
    for d in dates:
        for t in tickers:
            candles[(t, d)] = make_candles(t, d, seed)
            objects.update(hour_files(t, candles[(t, d)]))
    lake.write_many(objects)
    con = duckdb.connect(settings.warehouse_target.location)
    try:
        schema.ensure_schema(con)
        load_warehouse(lake, con, dates)
        if summary:
            from orderflow_pipeline.layers.summary.build import build_summary

            for d in dates:
                build_summary(lake, con, d, min_tickers=1, now=NOW)
    finally:
        con.close()
    return World(root, settings, lake, candles, tickers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("api_world"))


@pytest.fixture(scope="module")
def client(world: World) -> TestClient:
    return TestClient(world.app())


def busy_writer(path: str) -> subprocess.Popen[str]:
    """Another process holding DuckDB's write lock (a pipeline run), until we stop it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; c=duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# /footprint/summary: the read-side chain
# --------------------------------------------------------------------------------------------
def test_summary_ok_serves_the_l0_file(world: World, client: TestClient) -> None:
    r = client.get("/footprint/summary")
    assert r.status_code == 200
    doc = r.json()
    l0 = world.lake.read_json(keys.SUMMARY_LATEST)
    # L0 is returned as written (status OK), newest date = 2026-02-10, one item per ticker.
    assert doc == {**l0, "status": "OK"}
    assert doc["date"] == "2026-02-10" and doc["count"] == len(doc["items"]) == 40
    assert sorted(i["t"] for i in doc["items"]) == world.tickers
    assert r.headers["etag"] and r.headers["content-type"].startswith("application/json")


def test_summary_etag_304_and_gzip(client: TestClient) -> None:
    r1 = client.get("/footprint/summary")
    etag = r1.headers["etag"]
    r2 = client.get("/footprint/summary", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    r3 = client.get("/footprint/summary", headers={"If-None-Match": '"something-else"'})
    assert r3.status_code == 200
    r4 = client.get("/footprint/summary", headers={"Accept-Encoding": "gzip"})
    assert r4.headers.get("content-encoding") == "gzip" and r4.json() == r1.json()
    r5 = client.get("/footprint/summary", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r5.headers and r5.json() == r1.json()


def test_summary_cache_reuses_body_within_ttl(tmp_path: Path) -> None:
    w = build_world(tmp_path, n_tickers=3, dates=DATES[-1:])
    cached = TestClient(w.app(summary_ttl=3600))
    fresh = TestClient(w.app(summary_ttl=0))
    before = cached.get("/footprint/summary").json()
    doc = w.lake.read_json(keys.SUMMARY_LATEST)
    doc["items"] = doc["items"][:1]
    doc["count"] = 1
    w.lake.write_json(keys.SUMMARY_LATEST, doc)
    # Within the TTL the cached body is served (count 3); a zero-TTL app sees the new file (count 1).
    assert cached.get("/footprint/summary").json()["count"] == before["count"] == 3
    assert fresh.get("/footprint/summary").json()["count"] == 1


def test_summary_cache_is_bounded(tmp_path: Path) -> None:
    from orderflow_pipeline.api import MAX_CACHED_DATES

    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'none.duckdb'}")
    app = create_app(settings, summary_ttl=3600, clock=lambda: NOW)
    c = TestClient(app)
    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(MAX_CACHED_DATES + 4)]
    for d in days:
        assert c.get("/footprint/summary", params={"date": d.isoformat()}).status_code == 200
    # Client-chosen dates cannot grow the in-process cache past its bound; the newest ask stays.
    assert len(app.state.summary_cache.entries) == MAX_CACHED_DATES
    assert days[-1].isoformat() in app.state.summary_cache.entries


def test_summary_for_a_date_reads_that_dates_file(world: World, client: TestClient) -> None:
    doc = client.get("/footprint/summary", params={"date": "2026-02-06"}).json()
    assert doc["status"] == "OK" and doc["date"] == "2026-02-06"
    assert doc["items"] == world.lake.read_json(keys.summary_key("2026-02-06"))["items"]


def test_summary_fallback_when_l0_is_deleted(tmp_path: Path) -> None:
    w = build_world(tmp_path, n_tickers=12)
    w.lake.delete(keys.SUMMARY_LATEST)
    doc = TestClient(w.app()).get("/footprint/summary").json()
    # Now = Thu 2026-02-12: 2026-02-11 (1 session ago) has nothing, 2026-02-10 is 2 sessions ago.
    assert doc["status"] == "FALLBACK"
    assert doc["reason"] == "Using 2026-02-10 (2 trading day(s) ago)"
    assert doc["date"] == "2026-02-10" and doc["count"] == len(doc["items"]) == 12
    # L1 is formula B from the warehouse: the same numbers as summary.compute_range for that day.
    from orderflow_pipeline.layers.summary.build import compute_range

    with duckdb.connect(w.settings.warehouse_target.location, read_only=True) as con:
        direct = compute_range(con, NEWEST, NEWEST)
    assert doc["items"] == direct["items"]


def test_summary_no_data_on_an_empty_lake(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'none.duckdb'}")
    doc = TestClient(create_app(settings, clock=lambda: NOW)).get("/footprint/summary").json()
    assert doc["status"] == "NO_DATA" and doc["reason"] == "NO_DATA" and doc["items"] == []
    assert doc["message"] == "No recent trading data found in last 7 days."
    weekend = TestClient(create_app(settings, clock=lambda: SATURDAY)).get("/footprint/summary").json()
    assert weekend["status"] == "NO_DATA" and weekend["reason"] == "WEEKEND_NO_DATA"
    assert not (tmp_path / "none.duckdb").exists()  # a read never creates the warehouse


def test_summary_survives_a_concurrent_writer(tmp_path: Path) -> None:
    w = build_world(tmp_path, n_tickers=5)
    w.lake.delete(keys.SUMMARY_LATEST)
    proc = busy_writer(w.settings.warehouse_target.location)
    try:
        r = TestClient(w.app()).get("/footprint/summary")
    finally:
        release(proc)
    # The warehouse is locked: L1 answers from the per-date summary files the pipeline left.
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == "FALLBACK" and doc["date"] == "2026-02-10" and doc["count"] == 5


def test_summary_serves_the_last_good_body_while_the_warehouse_is_busy(tmp_path: Path) -> None:
    """Issue 17: a writer (a real second process) holds DuckDB's lock and the lake has no summary
    file to fall back on: the reader keeps serving the last body it served, 200 + X-Stale, never
    a 5xx and never a NO_DATA that would blank the dashboard."""
    w = build_world(tmp_path, n_tickers=5)
    client = TestClient(w.app(summary_ttl=0))  # no TTL: every request walks the chain again
    first = client.get("/footprint/summary")
    assert first.status_code == 200 and first.json()["status"] == "OK" and "x-stale" not in first.headers
    for k in [keys.SUMMARY_LATEST, *(keys.summary_key(d) for d in DATES)]:
        w.lake.delete(k)
    proc = busy_writer(w.settings.warehouse_target.location)
    try:
        during = client.get("/footprint/summary")
    finally:
        release(proc)
    assert during.status_code == 200 and during.headers["x-stale"] == "1"
    assert during.content == first.content and during.headers["etag"] == first.headers["etag"]
    # Writer gone: L1 computes 2026-02-10 from the warehouse (2 sessions before Thu 12 Feb).
    after = client.get("/footprint/summary")
    assert after.status_code == 200 and "x-stale" not in after.headers
    assert (
        after.json()["status"] == "FALLBACK"
        and after.json()["reason"] == "Using 2026-02-10 (2 trading day(s) ago)"
    )


def test_api_models_agree_with_the_document_shapes() -> None:
    """The OpenAPI models (api.models) accept exactly the fields the builders (documents) produce,
    with compatible types; the only looser fields are listed (older summary files lack them)."""
    import types
    import typing

    from orderflow_pipeline.api import models
    from orderflow_pipeline.layers.summary import documents

    pairs = {
        models.Ohlc: documents.Ohlc,
        models.Level: documents.Level,
        models.Candle: documents.Candle,
        models.SummaryItem: documents.SummaryItem,
        models.SummaryDoc: documents.SummaryDocument,
    }

    def members(tp: Any) -> set[Any]:
        """A type as the set of what it admits: union members, list[...] and Literal values normalised,
        pydantic models replaced by the TypedDict they mirror."""
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            return set().union(*(members(a) for a in typing.get_args(tp)))
        if typing.get_origin(tp) is typing.Literal:
            return {("literal", v) for v in typing.get_args(tp)}
        if typing.get_origin(tp) is list:
            (arg,) = typing.get_args(tp)
            return {("list", frozenset(members(arg)))}
        return {pairs.get(tp, tp)}

    looser = set()
    for model, shape in pairs.items():
        hints = typing.get_type_hints(shape)
        assert set(model.model_fields) == set(hints), model.__name__
        for name, field in model.model_fields.items():
            want, got = members(hints[name]), members(field.annotation)
            assert want <= got, (model.__name__, name, want, got)  # the model accepts every built value
            if got != want:
                looser.add((model.__name__, name, frozenset(got - want)))
    assert looser == {
        ("SummaryItem", "vel", frozenset({type(None)})),
        ("SummaryItem", "vel_accel", frozenset({type(None)})),
        ("SummaryItem", "val", frozenset({type(None)})),  # summary files of older versions lack them
        ("SummaryItem", "ins", frozenset({type(None)})),
        ("SummaryDoc", "date", frozenset({type(None)})),
        ("SummaryDoc", "ctx_found", frozenset({type(None)})),
    }


# --------------------------------------------------------------------------------------------
# /footprint/range
# --------------------------------------------------------------------------------------------
def test_range_is_formula_b_from_the_warehouse(world: World, client: TestClient) -> None:
    r = client.get("/footprint/range", params={"from": "2026-02-06", "to": "2026-02-10"})
    assert r.status_code == 200
    doc = r.json()
    from orderflow_pipeline.layers.summary.build import compute_range

    with duckdb.connect(world.settings.warehouse_target.location, read_only=True) as con:
        direct = compute_range(con, date(2026, 2, 6), NEWEST)
    assert doc["items"] == direct["items"] and doc["count"] == 40
    # The range's volume is the sum over its three trading days (06, 09, 10) of the planted candles.
    t = doc["items"][0]["t"]
    assert doc["items"][0]["v"] == sum(c["vol"] for d in DATES[1:] for c in world.candles[(t, d)])


def test_range_without_a_warehouse_is_no_data(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'none.duckdb'}")
    r = TestClient(create_app(settings)).get(
        "/footprint/range", params={"from": "2026-02-06", "to": "2026-02-10"}
    )
    assert r.status_code == 200 and r.json()["status"] == "NO_DATA" and r.json()["items"] == []


# --------------------------------------------------------------------------------------------
# /footprint-raw-hist
# --------------------------------------------------------------------------------------------
def test_raw_hist_from_the_warehouse(world: World, client: TestClient) -> None:
    r = client.get("/footprint-raw-hist", params={"kode": "T007", "date": "2026-02-09"})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "warehouse" and body["warehouse"] == "ok"
    # Exactly the planted candles: 75 minutes, every level, ordered by t0.
    assert body["count"] == 75 and body["candles"] == world.candles[("T007", date(2026, 2, 9))]


def test_raw_hist_falls_back_to_the_lake_while_a_writer_holds_the_warehouse(world: World) -> None:
    proc = busy_writer(world.settings.warehouse_target.location)
    try:
        body = (
            TestClient(world.app())
            .get("/footprint-raw-hist", params={"kode": "T011", "date": "2026-02-10"})
            .json()
        )
    finally:
        release(proc)
    assert body["source"] == "lake" and body["warehouse"] == "busy"
    assert body["candles"] == world.candles[("T011", NEWEST)]


def test_raw_hist_unknown_ticker_or_day_is_empty(client: TestClient) -> None:
    body = client.get("/footprint-raw-hist", params={"kode": "ZZZZ", "date": "2026-02-10"}).json()
    assert body["count"] == 0 and body["candles"] == []
    body = client.get("/footprint-raw-hist", params={"kode": "T001", "date": "2026-02-11"}).json()
    assert body["count"] == 0


# --------------------------------------------------------------------------------------------
# /diag/coverage, /integrity, /health
# --------------------------------------------------------------------------------------------
def test_coverage_names_what_the_warehouse_misses(tmp_path: Path) -> None:
    w = build_world(tmp_path, n_tickers=6, summary=False, dates=DATES[-1:])
    hour3 = int(datetime(2026, 2, 10, 3, tzinfo=timezone.utc).timestamp() * 1000)
    with duckdb.connect(
        w.settings.warehouse_target.location
    ) as con:  # T002 lost its 10:00 WIB hour in the warehouse
        con.execute("DELETE FROM footprint_1m WHERE ticker = 'T002' AND time_key >= ?", [hour3])
    body = TestClient(w.app()).get("/diag/coverage", params={"date": "2026-02-10"}).json()
    assert body["warehouse"] == "ok" and body["lake_tickers"] == 6 and body["warehouse_tickers"] == 6
    hours = {h["hour_utc"]: h for h in body["hours"]}
    assert sorted(hours) == [2, 3]  # 09:xx and 10:xx WIB
    assert hours[2] == {"hour_utc": 2, "hour_wib": 9, "lake": 6, "warehouse": 6, "missing_in_warehouse": []}
    assert hours[3] == {
        "hour_utc": 3,
        "hour_wib": 10,
        "lake": 6,
        "warehouse": 5,
        "missing_in_warehouse": ["T002"],
    }


def test_readers_while_a_writer_holds_the_warehouse(world: World) -> None:
    proc = busy_writer(world.settings.warehouse_target.location)
    try:
        c = TestClient(world.app())
        cov = c.get("/diag/coverage", params={"date": "2026-02-09"}).json()
        health = c.get("/health").json()
        rng = c.get("/footprint/range", params={"from": "2026-02-09", "to": "2026-02-10"})
    finally:
        release(proc)
    # Coverage reports the lake side; health says busy; range has no lake fallback → 503 + Retry-After.
    assert cov["warehouse"] == "busy" and cov["lake_tickers"] == 40 and cov["warehouse_tickers"] is None
    assert health["status"] == "degraded" and health["warehouse"]["state"] == "busy"
    assert health["summary"]["exists"] is True
    assert rng.status_code == 503 and rng.headers["retry-after"] == "2"
    assert rng.json()["error"] == "warehouse_busy"


def test_integrity_is_the_core_report(world: World, client: TestClient) -> None:
    r = client.get("/integrity", params={"date": "2026-02-10"})
    assert r.status_code == 200
    body = r.json()
    from orderflow_pipeline.read.integrity import integrity_report

    direct = integrity_report(world.settings, NEWEST, now=NOW)
    assert body["date"] == "2026-02-10" and body["status"] == direct["status"]
    assert [c["name"] for c in body["checks"]] == [c["name"] for c in direct["checks"]]


def test_health(world: World, client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["warehouse"] == {
        "reachable": True,
        "state": "ok",
        "newest_date": "2026-02-10",
        "tickers_on_newest": 40,
        "detail": None,
    }
    assert body["summary"]["exists"] and body["summary"]["date"] == "2026-02-10"
    assert body["summary"]["newest_dated_summary"] == "2026-02-10"
    gen = datetime.fromisoformat(body["summary"]["generated_at"].replace("Z", "+00:00"))
    assert body["summary"]["age_seconds"] == pytest.approx((NOW - gen).total_seconds())


def test_health_degraded_without_a_warehouse(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), warehouse=f"duckdb:{tmp_path / 'none.duckdb'}")
    body = TestClient(create_app(settings)).get("/health").json()
    assert body["status"] == "degraded" and body["warehouse"]["state"] == "missing"
    assert body["summary"]["exists"] is False


def test_endpoints_over_an_s3_lake(moto_server: str, tmp_path: Path) -> None:
    from conftest import make_s3_lake

    w = build_world(
        tmp_path, n_tickers=5, dates=DATES[-1:], lake=make_s3_lake(moto_server), endpoint=moto_server
    )
    Path(w.settings.warehouse_target.location).unlink()  # no warehouse: everything below comes from S3
    c = TestClient(w.app())
    doc = c.get("/footprint/summary").json()
    assert doc["status"] == "OK" and doc["count"] == 5
    body = c.get("/footprint-raw-hist", params={"kode": "T003", "date": "2026-02-10"}).json()
    assert body["source"] == "lake" and body["warehouse"] == "missing"
    assert body["candles"] == w.candles[("T003", NEWEST)]
    cov = c.get("/diag/coverage", params={"date": "2026-02-10"}).json()
    assert (
        cov["warehouse"] == "missing"
        and cov["lake_tickers"] == 5
        and [h["lake"] for h in cov["hours"]] == [5, 5]
    )


# --------------------------------------------------------------------------------------------
# Bad input: always 400 with a message naming the parameter, never 422 or 500
# --------------------------------------------------------------------------------------------
BAD = [
    ("/footprint/summary", {"date": "yesterday"}, "date"),
    ("/footprint/summary", {"date": "2026-02-30"}, "date"),
    ("/footprint/summary", {"date": "1990-01-02"}, "outside the IDX calendar"),
    ("/footprint/range", {"to": "2026-02-10"}, "from"),
    ("/footprint/range", {"from": "2026-02-10"}, "to"),
    ("/footprint/range", {"from": "2026-02-10", "to": "2026-02-09"}, "after"),
    ("/footprint/range", {"from": "2025-11-01", "to": "2026-02-10"}, f"at most {MAX_RANGE_DAYS}"),
    ("/footprint/range", {"from": "2026-2-1", "to": "2026-02-10"}, "from"),
    ("/footprint-raw-hist", {"date": "2026-02-10"}, "kode"),
    ("/footprint-raw-hist", {"kode": "BBRI"}, "date"),
    ("/footprint-raw-hist", {"kode": "bbri", "date": "2026-02-10"}, "kode"),
    ("/footprint-raw-hist", {"kode": "ABCDEFGHIJKLM", "date": "2026-02-10"}, "kode"),
    ("/footprint-raw-hist", {"kode": "BB'; DROP TABLE x", "date": "2026-02-10"}, "kode"),
    ("/footprint-raw-hist", {"kode": "../X", "date": "2026-02-10"}, "kode"),
    ("/footprint-raw-hist", {"kode": "BBRI", "date": "2026-13-01"}, "date"),
    ("/diag/coverage", {}, "date"),
    ("/diag/coverage", {"date": "20260210"}, "date"),
    ("/integrity", {}, "date"),
    ("/integrity", {"date": "2026-02-10T00:00"}, "date"),
]


@pytest.mark.parametrize(("path", "params", "needle"), BAD, ids=[f"{p}-{q}" for p, q, _ in BAD])
def test_bad_input_is_400_with_a_message(
    client: TestClient, path: str, params: dict[str, str], needle: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "bad_request" and needle in body["detail"], body


def test_range_of_exactly_90_days_is_allowed(client: TestClient) -> None:
    # 2025-11-12 + 90 days = 2026-02-10: the longest range accepted.
    assert (date(2026, 2, 10) - date(2025, 11, 12)).days == MAX_RANGE_DAYS
    assert (
        client.get("/footprint/range", params={"from": "2025-11-12", "to": "2026-02-10"}).status_code == 200
    )


# --------------------------------------------------------------------------------------------
# Dashboard files and OpenAPI
# --------------------------------------------------------------------------------------------
def test_dashboard_and_vendored_chart_library_are_served(client: TestClient) -> None:
    html = client.get("/").text
    assert "/static/vendor/echarts.min.js" in html and "/static/app.js" in html
    assert 'src="http' not in html and 'href="http' not in html  # nothing from a CDN
    js = client.get("/static/vendor/echarts.min.js")
    assert js.status_code == 200 and len(js.content) > 500_000
    assert client.get("/static/vendor/ECHARTS-LICENSE").status_code == 200


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/footprint/summary",
        "/footprint/range",
        "/footprint-raw-hist",
        "/diag/coverage",
        "/integrity",
        "/health",
    } <= set(paths)
    assert client.get("/docs").status_code == 200


# schemathesis' pytest integration wants the app at import time (its fixture loader does not
# work with this pytest), so the app is created now on an empty temp root and the world is built
# into that root by a fixture just before the generated cases run.
_SCHEMA_ROOT = Path(tempfile.mkdtemp(prefix="api_schema_"))
_SCHEMA_APP = create_app(
    Settings(lake=str(_SCHEMA_ROOT / "lake"), warehouse=f"duckdb:{_SCHEMA_ROOT / 'warehouse.duckdb'}"),
    summary_ttl=0,
    clock=lambda: NOW,
)


@pytest.fixture(scope="module")
def schema_world(real: Path) -> Iterator[World]:
    try:
        world = build_world(_SCHEMA_ROOT, n_tickers=4, dates=DATES[-2:])
        # Real broker summaries, so generated /range requests that hit BBCA/BBRI/TLKM sum real files.
        shutil.copytree(real / "raw-broksum", _SCHEMA_ROOT / "lake" / "raw-broksum")
        yield world
    finally:
        shutil.rmtree(_SCHEMA_ROOT, ignore_errors=True)


try:  # the property test needs schemathesis (pyproject test extras)
    import schemathesis
except ImportError:  # pragma: no cover
    schemathesis = None  # type: ignore[assignment]

if schemathesis is not None:
    from hypothesis import HealthCheck, settings

    # /live/stream is an endless SSE response (tests/test_live_api.py reads it with a real client)
    schema_under_test = schemathesis.openapi.from_asgi("/openapi.json", _SCHEMA_APP).exclude(
        path="/live/stream"
    )

    @schema_under_test.parametrize()
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def test_openapi_property_no_500(case, schema_world: World) -> None:  # noqa: ANN001
        """Generated requests (valid and invalid) never get a 5xx and match the documented schema."""
        from schemathesis.checks import (
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
        )

        case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
        )


def test_every_route_is_in_the_openapi_schema() -> None:
    """Every API route (not the dashboard's `/` and `/static`) is documented, with its 400."""
    from fastapi.routing import APIRoute

    paths = _SCHEMA_APP.openapi()["paths"]
    routes = {r.path for r in _SCHEMA_APP.routes if isinstance(r, APIRoute) and r.include_in_schema}
    assert routes == set(paths)
    assert {"/integrity-scan", "/signal", "/range"} <= routes
    for path in ("/integrity-scan", "/signal", "/range"):
        assert "400" in paths[path]["get"]["responses"], path
    assert "404" in paths["/signal"]["get"]["responses"]


def test_json_bodies_are_compact_utf8(client: TestClient) -> None:
    raw = client.get("/footprint/summary", headers={"Accept-Encoding": "identity"}).content
    assert json.loads(raw) and b", " not in raw[:200]
