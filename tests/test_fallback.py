"""Read-side fallback chain (SPEC §11): L0 cache -> L1 previous sessions -> L2 NO_DATA.

Real lake folders (and the moto S3 server), a real DuckDB file, and — for the locked-warehouse
case — a real second process holding DuckDB's write lock.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orderflow_pipeline.config import Settings
from orderflow_pipeline.read.fallback import NO_DATA_MESSAGE, resolve_from, resolve_summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.schema import ensure_schema

WIB = timezone(timedelta(hours=7))
WED_1000 = datetime(2026, 2, 18, 10, 0, tzinfo=WIB)  # 16 and 17 Feb 2026 are IDX closures
SAT_1000 = datetime(2026, 2, 21, 10, 0, tzinfo=WIB)


def _t0(d: date, hh: int, mm: int) -> int:
    return int(datetime(d.year, d.month, d.day, hh, mm, tzinfo=WIB).timestamp() * 1000)


def make_warehouse(path: Path, rows: list[tuple[str, date, int, int, int, int, int, int, int]]) -> None:
    """rows: (ticker, date, minute-of-session, open, high, low, close, vol, delta)."""
    with duck.writing(str(path)) as con:
        ensure_schema(con)
        for t, d, minute, o, h, lo, c, vol, delta in rows:
            buy = (vol + delta) // 2
            con.execute(
                "INSERT INTO footprint_1m VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [t, d, _t0(d, 9, 0) + minute * 60_000, o, h, lo, c, vol, delta, buy, vol - buy, "test"],
            )


def summary_doc(d: str, tickers: list[str]) -> dict:
    return {
        "status": "OK",
        "date": d,
        "generated_at": f"{d}T09:00:00Z",
        "source": "lake",
        "ctx_date": None,
        "ctx_found": False,
        "count": len(tickers),
        "reason": None,
        "message": None,
        "items": [{"t": t, "d": 1.0, "p": 0.5, "sc": 0.5, "sig": "NEUTRAL"} for t in tickers],
    }


def test_l0_hit_returns_the_cache(local_lake: Lake, tmp_path: Path) -> None:
    local_lake.write_json(keys.SUMMARY_LATEST, summary_doc("2026-02-18", ["BBCA", "BBRI"]))
    doc = resolve_from(local_lake, str(tmp_path / "none.duckdb"), now=WED_1000).doc
    assert doc["status"] == "OK"
    assert doc["date"] == "2026-02-18"
    assert [i["t"] for i in doc["items"]] == ["BBCA", "BBRI"]


def test_l0_for_an_asked_date_reads_that_dates_file(local_lake: Lake, tmp_path: Path) -> None:
    local_lake.write_json(keys.SUMMARY_LATEST, summary_doc("2026-02-18", ["BBCA"]))
    local_lake.write_json(keys.summary_key("2026-02-12"), summary_doc("2026-02-12", ["TLKM"]))
    doc = resolve_from(local_lake, None, date=date(2026, 2, 12), now=WED_1000).doc
    assert doc["status"] == "OK" and doc["date"] == "2026-02-12" and doc["items"][0]["t"] == "TLKM"


def test_l0_without_items_falls_through_to_l1_from_the_warehouse_skipping_the_holidays(
    local_lake: Lake, tmp_path: Path
) -> None:
    # The cache exists but is empty: it is not an L0 hit.
    local_lake.write_json(keys.SUMMARY_LATEST, {**summary_doc("2026-02-18", []), "status": "NO_DATA"})
    db = tmp_path / "wh.duckdb"
    make_warehouse(
        db,
        [
            # 2026-02-13 (Friday): the previous session of Wed 18 Feb (16 and 17 Feb are closed).
            # Two minutes: open 100 (first by t0), close 102 (last), high 103, low 99, vol 60+40, delta 30+20.
            ("AAAA", date(2026, 2, 13), 1, 100, 101, 99, 101, 60, 30),
            ("AAAA", date(2026, 2, 13), 2, 101, 103, 100, 102, 40, 20),
            # An older session must not win over the newest one.
            ("ZZZZ", date(2026, 2, 12), 0, 50, 50, 50, 50, 10, 0),
        ],
    )
    doc = resolve_from(local_lake, str(db), now=WED_1000).doc
    assert doc["status"] == "FALLBACK"
    assert doc["reason"] == "Using 2026-02-13 (1 trading day(s) ago)"
    assert doc["date"] == "2026-02-13" and doc["source"] == "warehouse" and doc["count"] == 1
    item = doc["items"][0]
    # deltaPct = 50/100*100 = 50; pricePct = (102-100)/100*100 = 2; no context (z 0).
    # Formula B: rt = 0.7*norm(50,-25,25)=0.7*1 + 0.3*norm(2,-5,5)=0.3*0.7 -> 0.91;
    # h = norm(0,-3,3) = 0.5; score = 0.7*0.91 + 0.3*0.5 = 0.787 -> BUY (score > 0.6, p >= -3;
    # WATCH_ACCUM needs norm(50,-100,100) = 0.75 > 0.8, which fails).
    assert (item["t"], item["d"], item["p"], item["v"], item["h"], item["l"]) == (
        "AAAA",
        50.0,
        2.0,
        100,
        103,
        99,
    )
    assert item["sc"] == pytest.approx(0.787)
    assert item["sig"] == "BUY"


@pytest.mark.parametrize(("day", "n"), [(date(2026, 2, 11), 3), (date(2026, 2, 5), 7)])
def test_l1_counts_trading_days_not_calendar_days(
    local_lake: Lake, tmp_path: Path, day: date, n: int
) -> None:
    db = tmp_path / "wh.duckdb"
    make_warehouse(db, [("AAAA", day, 0, 100, 100, 100, 100, 10, 0)])
    doc = resolve_from(local_lake, str(db), now=WED_1000).doc
    # Previous sessions of 18 Feb: 13 (1), 12 (2), 11 (3), 10, 9, 6, 5 (7) — the last one in the window.
    assert doc["status"] == "FALLBACK"
    assert doc["reason"] == f"Using {day.isoformat()} ({n} trading day(s) ago)"


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_l1_uses_lake_summary_files_when_the_warehouse_is_missing_or_empty(
    any_lake: Lake, tmp_path: Path, state: str
) -> None:
    db = tmp_path / "wh.duckdb"
    if state == "empty":
        make_warehouse(db, [])
    any_lake.write_json(keys.summary_key("2026-02-12"), summary_doc("2026-02-12", ["TLKM"]))
    doc = resolve_from(any_lake, str(db), now=WED_1000).doc
    assert doc["status"] == "FALLBACK"
    assert doc["reason"] == "Using 2026-02-12 (2 trading day(s) ago)"
    assert [i["t"] for i in doc["items"]] == ["TLKM"]


def test_l1_survives_a_writer_holding_the_warehouse_lock(local_lake: Lake, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    make_warehouse(db, [("AAAA", date(2026, 2, 13), 0, 100, 100, 100, 100, 10, 0)])
    local_lake.write_json(keys.summary_key("2026-02-13"), summary_doc("2026-02-13", ["FROMLAKE"]))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(duck.WarehouseBusy):
            duck.connect(str(db), read_only=True, retries=0)
        res = resolve_from(local_lake, str(db), now=WED_1000)
        local_lake.delete(keys.summary_key("2026-02-13"))
        blank = resolve_from(local_lake, str(db), now=WED_1000)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # The last good body the pipeline left (the per-date file) answers, and the chain says the
    # warehouse was busy, so the API may prefer its last served body over a NO_DATA.
    doc = res.doc
    assert res.warehouse_busy is True
    assert doc["status"] == "FALLBACK"
    assert doc["reason"] == "Using 2026-02-13 (1 trading day(s) ago)"
    assert [i["t"] for i in doc["items"]] == ["FROMLAKE"]
    assert blank.doc["status"] == "NO_DATA" and blank.warehouse_busy is True
    # Writer gone: the warehouse answers for 13 Feb (formula B), and nobody is called busy.
    after = resolve_from(local_lake, str(db), now=WED_1000)
    assert after.warehouse_busy is False and [i["t"] for i in after.doc["items"]] == ["AAAA"]


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (SAT_1000, "WEEKEND_NO_DATA"),
        (datetime(2026, 2, 16, 10, 0, tzinfo=WIB), "WEEKEND_NO_DATA"),  # a holiday Monday: not a trading day
        (WED_1000, "NO_DATA"),
    ],
)
def test_l2_no_data(local_lake: Lake, tmp_path: Path, now: datetime, reason: str) -> None:
    db = tmp_path / "wh.duckdb"
    # 4 Feb is the 8th session before 18 Feb (13, 12, 11, 10, 9, 6, 5, 4) — and further back
    # from 16 and 21 Feb — so it is outside the 7-session window and must not be used.
    make_warehouse(db, [("AAAA", date(2026, 2, 4), 0, 100, 100, 100, 100, 10, 0)])
    local_lake.write_json(keys.summary_key("2026-02-04"), summary_doc("2026-02-04", ["OLD"]))
    doc = resolve_from(local_lake, str(db), now=now).doc
    assert doc["status"] == "NO_DATA"
    assert doc["reason"] == reason
    assert doc["message"] == NO_DATA_MESSAGE == "No recent trading data found in last 7 days."
    assert doc["items"] == [] and doc["count"] == 0
    assert doc["date"] == now.date().isoformat()


def test_resolve_summary_reads_the_configured_settings(tmp_path: Path) -> None:
    lake_root = tmp_path / "lake"
    Lake(str(lake_root)).write_json(keys.SUMMARY_LATEST, summary_doc("2026-02-18", ["BBCA"]))
    s = Settings(lake=str(lake_root), warehouse=f"duckdb:{tmp_path / 'wh.duckdb'}")
    assert resolve_summary(s, now=WED_1000)["items"][0]["t"] == "BBCA"
    assert (
        resolve_summary(
            Settings(lake=str(tmp_path / "empty"), warehouse=f"duckdb:{tmp_path / 'x.duckdb'}"), now=WED_1000
        )["status"]
        == "NO_DATA"
    )
