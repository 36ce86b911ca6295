"""Warehouse consolidation (SPEC §7): real fixture, manifest incrementality, quarantine, checks,
atomicity and readers while another process writes — on a local folder and on moto S3."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import count_quarantined
from orderflow_pipeline.warehouse import checks as warehouse_checks
from orderflow_pipeline.warehouse import duck, load, queries
from orderflow_pipeline.warehouse.schema import ensure_schema

D = "2026-02-06"
BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"
HOUR4_MS = 1770350400000  # 2026-02-06 04:00 UTC


def candle(
    t0: int,
    o: int = 100,
    h: int = 110,
    lo: int = 95,
    c: int = 105,
    bv: int = 10,
    av: int = 5,
    vol: int | None = None,
) -> bytes:
    return json.dumps(
        {
            "t0": t0,
            "ohlc": {"o": o, "h": h, "l": lo, "c": c},
            "vol": vol if vol is not None else bv + av,
            "delta": bv - av,
            "levels": [{"p": o, "bv": bv, "av": av}],
        },
        separators=(",", ":"),
    ).encode()


def hour_file(n: int, base: int = HOUR4_MS, **kw: int) -> bytes:
    return b"".join(candle(base + i * 60_000, **kw) + b"\n" for i in range(n))


def checksum(con: duckdb.DuckDBPyConnection, where: str = "true") -> tuple:
    """md5 over every column of the three tables, in a fixed order (byte-for-byte equality)."""
    return con.execute(f"""
        SELECT (SELECT md5(coalesce(string_agg(c::VARCHAR, '|' ORDER BY ticker, time_key), ''))
                  FROM footprint_1m c WHERE {where}),
               (SELECT md5(coalesce(string_agg(l::VARCHAR, '|' ORDER BY ticker, time_key, price), ''))
                  FROM footprint_levels l WHERE {where}),
               (SELECT md5(coalesce(string_agg(m::VARCHAR, '|' ORDER BY key), '')) FROM ingest_manifest m)
    """).fetchone()


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_schema(c)
    yield c
    c.close()


def put_bbri(lake: Lake, real: Path) -> bytes:
    raw = (real / "footprint/BBRI/1m/2026/02/06/03.jsonl").read_bytes()
    lake.write_bytes(BBRI_KEY, raw)
    return raw


def test_real_bbri_hour_loads_with_the_files_sums(
    any_lake: Lake, con: duckdb.DuckDBPyConnection, real: Path
) -> None:
    raw = put_bbri(any_lake, real)
    lines = [json.loads(x) for x in raw.splitlines()]
    res = load.consolidate(any_lake, con, D)
    assert (res.objects_listed, res.objects_read, res.rows, res.quarantined, res.tickers) == (1, 1, 60, 0, 1)
    got = con.execute(
        "SELECT count(*), sum(vol), sum(delta), sum(buy_vol), sum(sell_vol) FROM footprint_1m"
        " WHERE ticker = 'BBRI' AND date = ?",
        [D],
    ).fetchone()
    assert got == (
        60,
        sum(x["vol"] for x in lines),
        sum(x["delta"] for x in lines),
        sum(lv["bv"] for x in lines for lv in x["levels"]),
        sum(lv["av"] for x in lines for lv in x["levels"]),
    )
    assert con.execute("SELECT count(*), sum(bv), sum(av) FROM footprint_levels").fetchone() == (
        sum(len(x["levels"]) for x in lines),
        got[3],
        got[4],
    )
    assert con.execute("SELECT key, rows, quarantined, hour, ticker FROM ingest_manifest").fetchall() == [
        (BBRI_KEY, 60, 0, 3, "BBRI")
    ]
    # The API's raw-history shape: the file's candles, levels sorted by price.
    hist = queries.candles_for(con, "BBRI", D)
    assert [{**x, "levels": sorted(x["levels"], key=lambda lv: lv["p"])} for x in lines] == hist
    assert queries.tickers_for(con, D) == 1 and queries.tickers_for(con, "2026-02-05") == 0


def test_rerun_is_a_noop_and_a_changed_object_replaces_only_its_rows(
    any_lake: Lake, con: duckdb.DuckDBPyConnection, real: Path
) -> None:
    put_bbri(any_lake, real)
    other = "footprint/BBRI/1m/2026/02/06/04.jsonl"
    any_lake.write_bytes(other, hour_file(10))
    any_lake.write_bytes("footprint/TLKM/1m/2026/02/06/04.jsonl", hour_file(5))
    any_lake.write_bytes("footprint/TLKM/1m/2026/02/06/12.jsonl", hour_file(3, base=HOUR4_MS + 8 * 3_600_000))
    first = load.consolidate(any_lake, con, D)
    # 12 UTC = 19:00 WIB on the 6th, still this date.
    assert (first.objects_read, first.rows, first.tickers) == (4, 60 + 10 + 5 + 3, 2)
    before = checksum(con)

    again = load.consolidate(any_lake, con, D)
    assert (again.objects_read, again.objects_skipped, again.rows, again.objects_removed) == (0, 4, 0, 0)
    assert checksum(con) == before

    untouched = f"source_key <> '{other}'"
    before_others = checksum(con, untouched)[:2]
    any_lake.write_bytes(other, hour_file(7, vol=40))
    changed = load.consolidate(any_lake, con, D)
    assert (changed.objects_read, changed.objects_skipped, changed.rows) == (1, 3, 7)
    assert checksum(con, untouched)[:2] == before_others
    assert con.execute(
        "SELECT count(*), sum(vol) FROM footprint_1m WHERE source_key = ?", [other]
    ).fetchone() == (7, 280)
    assert con.execute("SELECT count(*) FROM footprint_levels WHERE source_key = ?", [other]).fetchone() == (
        7,
    )

    any_lake.delete(other)
    removed = load.consolidate(any_lake, con, D)
    assert (removed.objects_read, removed.objects_removed) == (0, 1)
    assert con.execute("SELECT count(*) FROM footprint_1m WHERE source_key = ?", [other]).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM ingest_manifest WHERE key = ?", [other]).fetchone() == (0,)
    assert checksum(con, untouched)[:2] == before_others

    forced = load.consolidate(any_lake, con, D, force=True)
    assert forced.objects_read == 3 and checksum(con, untouched)[:2] == before_others


@pytest.mark.parametrize("flat_max", [20_000, 1])  # S3: one flat listing, or one per ticker and month
def test_other_dates_are_neither_read_nor_touched(
    any_lake: Lake, con: duckdb.DuckDBPyConnection, flat_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory, "S3_FLAT_LISTING_MAX", flat_max)
    local_lake = any_lake
    # 2026-02-05 17:00 UTC is already 00:00 WIB on the 6th; 16:00 UTC on the 5th is still the 5th.
    local_lake.write_bytes(
        "footprint/ASII/1m/2026/02/05/17.jsonl", hour_file(2, base=HOUR4_MS - 11 * 3_600_000)
    )
    local_lake.write_bytes(
        "footprint/ASII/1m/2026/02/05/16.jsonl", hour_file(2, base=HOUR4_MS - 12 * 3_600_000)
    )
    local_lake.write_bytes(
        "footprint/BBCA/1m/2026/02/06/02.jsonl", hour_file(1, base=HOUR4_MS - 2 * 3_600_000)
    )
    local_lake.write_bytes(
        "footprint/BBCA/1m/2026/02/07/02.jsonl", hour_file(1, base=HOUR4_MS + 22 * 3_600_000)
    )
    assert list(inventory.footprint_objects(local_lake, D)) == [
        "footprint/ASII/1m/2026/02/05/17.jsonl",
        "footprint/BBCA/1m/2026/02/06/02.jsonl",
    ]
    local_lake.delete("footprint/BBCA/1m/2026/02/06/02.jsonl")
    assert load.consolidate(local_lake, con, "2026-02-05").rows == 2
    assert load.consolidate(local_lake, con, D).rows == 2
    assert con.execute(
        "SELECT date::VARCHAR, count(*) FROM footprint_1m GROUP BY 1 ORDER BY 1"
    ).fetchall() == [("2026-02-05", 2), (D, 2)]
    assert load.consolidate(local_lake, con, "2026-02-05").objects_read == 0


def test_malformed_object_quarantines_bad_lines_and_loads_the_rest(
    any_lake: Lake, con: duckdb.DuckDBPyConnection, real: Path
) -> None:
    put_bbri(any_lake, real)
    key = "footprint/TLKM/1m/2026/02/06/04.jsonl"
    good = hour_file(6)
    lines = good.splitlines()
    bad = (
        b"\n".join(
            [
                lines[0],
                b"{not json",
                lines[1],
                lines[2][:40],
                lines[3],
                candle(HOUR4_MS + 9 * 60_000, h=90, lo=95),
                lines[4],
                lines[5],
            ]
        )
        + b"\n"
    )
    any_lake.write_bytes(key, bad)
    res = load.consolidate(any_lake, con, D)
    assert (res.rows, res.quarantined) == (60 + 5, 3)  # TLKM: 6 good minutes, the 3rd truncated
    # hour-file lines go to the footprint folder, the object the footprint layer writes for the
    # same file: the footprint layer validating this upstream file too changes nothing (issue 19)
    assert count_quarantined(any_lake, D) == {"footprint": 3}
    before = any_lake.read_bytes(res.quarantine_keys[0])
    footprint.build_footprint(any_lake, D)
    assert count_quarantined(any_lake, D) == {"footprint": 3}
    assert any_lake.read_bytes(res.quarantine_keys[0]) == before
    stored = [json.loads(x) for x in any_lake.read_bytes(res.quarantine_keys[0]).splitlines()]
    assert [(r["line_no"], r["reason"].split(":")[0]) for r in stored] == [
        (2, "bad JSON"),
        (4, "truncated line"),
        (6, "broken OHLC"),
    ]
    assert all(r["source"] == key for r in stored)

    outcomes = {o.name: o for o in warehouse_checks.checks(any_lake, con, D)}
    assert not outcomes["warehouse_quarantine"].passed
    assert outcomes["warehouse_quarantine"].metadata["quarantined"] == 3
    assert outcomes["warehouse_objects_loaded"].passed  # loaded or quarantined
    assert outcomes["warehouse_manifest_rows"].passed

    any_lake.write_bytes(key, good)  # fixed upstream: reload, stale quarantine object goes away
    fixed = load.consolidate(any_lake, con, D)
    assert (fixed.objects_read, fixed.rows, fixed.quarantined) == (1, 6, 0)
    assert count_quarantined(any_lake, D, "warehouse") == {}
    assert count_quarantined(any_lake, D) == {}  # the stale object (footprint folder) is gone
    assert {o.name: o.passed for o in warehouse_checks.checks(any_lake, con, D)}["warehouse_quarantine"]


def test_checks_on_a_small_date(local_lake: Lake, con: duckdb.DuckDBPyConnection, real: Path) -> None:
    put_bbri(local_lake, real)
    load.consolidate(local_lake, con, D)
    outcomes = {o.name: o for o in warehouse_checks.checks(local_lake, con, D)}
    assert {o.severity for o in outcomes.values()} == {"WARN"}  # SPEC §11: none of these blocks
    assert not outcomes["warehouse_min_tickers"].passed and outcomes["warehouse_min_tickers"].metadata == {
        "tickers": 1
    }
    assert not outcomes["warehouse_fast_path_tickers"].passed
    for name in (
        "warehouse_manifest_rows",
        "warehouse_unique_minutes",
        "warehouse_ohlc_valid",
        "warehouse_objects_loaded",
        "warehouse_quarantine",
    ):
        assert outcomes[name].passed, outcomes[name]
    assert warehouse_checks.checks(local_lake, con, D, min_tickers=1, fast_path_tickers=1)[0].passed

    local_lake.write_bytes("footprint/TLKM/1m/2026/02/06/04.jsonl", hour_file(2))  # landed, not loaded yet
    con.execute("INSERT INTO footprint_1m SELECT * REPLACE (high - 100 AS high) FROM footprint_1m LIMIT 1")
    outcomes = {o.name: o for o in warehouse_checks.checks(local_lake, con, D)}
    assert not outcomes["warehouse_objects_loaded"].passed
    assert outcomes["warehouse_objects_loaded"].metadata["not_loaded"] == 1
    assert not outcomes["warehouse_manifest_rows"].passed  # 61 rows vs manifest 60
    assert not outcomes["warehouse_ohlc_valid"].passed
    assert warehouse_checks.checks(local_lake, None, D)[0].name == "warehouse_readable"


def test_failed_load_leaves_the_table_as_it_was(
    local_lake: Lake, con: duckdb.DuckDBPyConnection, real: Path
) -> None:
    put_bbri(local_lake, real)
    load.consolidate(local_lake, con, D)
    before = checksum(con)
    # A real failure inside the transaction, after footprint_1m was already replaced: the levels
    # table refuses prices above 3815 (BBRI trades at 3810-3820).
    con.execute("ALTER TABLE footprint_levels RENAME TO levels_copy")
    con.execute(
        "CREATE TABLE footprint_levels (ticker VARCHAR NOT NULL, date DATE NOT NULL,"
        " time_key BIGINT NOT NULL, price INTEGER NOT NULL CHECK (price < 3815), bv BIGINT NOT NULL,"
        " av BIGINT NOT NULL, source_key VARCHAR NOT NULL)"
    )
    con.execute("INSERT INTO footprint_levels SELECT * FROM levels_copy WHERE price < 3815")
    base = checksum(con)
    last_minute = 1770346800000 + 59 * 60_000  # replaces the file's last minute (later line wins)
    local_lake.write_bytes(
        BBRI_KEY,
        local_lake.read_bytes(BBRI_KEY) + candle(last_minute, o=3820, h=3820, lo=3820, c=3820) + b"\n",
    )
    with pytest.raises(duckdb.ConstraintException):
        load.consolidate(local_lake, con, D)
    assert checksum(con) == base
    assert base[0] == before[0]  # candles untouched by the failed run


def test_prune_is_a_setting_default_keeps_everything(
    local_lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    local_lake.write_bytes("footprint/ASII/1m/2026/02/05/04.jsonl", hour_file(2, base=HOUR4_MS - 86_400_000))
    local_lake.write_bytes("footprint/ASII/1m/2026/02/06/04.jsonl", hour_file(3))
    load.consolidate(local_lake, con, "2026-02-05")
    load.consolidate(local_lake, con, D)
    assert con.execute("SELECT count(*) FROM footprint_1m").fetchone() == (5,)
    load.consolidate(local_lake, con, D, retention_days=0)
    assert con.execute("SELECT count(*), min(date)::VARCHAR FROM footprint_1m").fetchone() == (3, D)
    assert con.execute("SELECT count(*) FROM ingest_manifest").fetchone() == (1,)


WRITER = r"""
import sys, time
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse import load
from orderflow_pipeline.warehouse import queries
from orderflow_pipeline.warehouse import checks as warehouse_checks
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse.schema import ensure_schema
path, lake_root, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
lake = Lake(lake_root)
for i in range(rounds):
    con = duck.connect(path)  # the writer too waits out a reader's brief lock
    ensure_schema(con)
    if i == 0:
        print("writing", flush=True)
    load.consolidate(lake, con, "2026-02-06", force=True)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM footprint_levels WHERE price < 0")
    time.sleep(0.2)  # hold the write lock inside an open transaction
    con.execute("COMMIT")
    con.close()
print("done", flush=True)
"""


def test_reader_while_another_process_writes_gets_data_or_busy(
    tmp_path: Path, local_lake: Lake, real: Path
) -> None:
    put_bbri(local_lake, real)
    path = str(tmp_path / "wh.duckdb")
    with duck.writing(path) as c:
        ensure_schema(c)
        load.consolidate(local_lake, c, D)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, path, local_lake.root, "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        outcomes = {"data": 0, "busy": 0}
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with duck.reading(path, retries=1, wait_s=0.01) as r:
                    assert queries.tickers_for(r, D) == 1
                    assert len(queries.candles_for(r, "BBRI", D)) == 60
                    outcomes["data"] += 1
            except duck.WarehouseBusy as exc:
                assert "retry" in str(exc)
                outcomes["busy"] += 1
            time.sleep(0.02)  # an API request rate, not a lock-starving spin
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert outcomes["busy"] > 0  # the writer really held the file
    with duck.reading(path) as r:  # and once it is done, a reader gets the data
        assert queries.tickers_for(r, D) == 1


def test_reader_in_the_writers_own_process_gets_busy_not_a_crash(tmp_path: Path) -> None:
    path = str(tmp_path / "wh.duckdb")
    with duck.writing(path) as w:
        ensure_schema(w)
        with pytest.raises(duck.WarehouseBusy):  # DuckDB: "different configuration" ConnectionException
            duck.connect(path, read_only=True, retries=1, wait_s=0.01)
    with duck.reading(path) as r:
        assert queries.tickers_for(r, D) == 0
