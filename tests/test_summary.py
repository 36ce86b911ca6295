"""Summary document, context, lake/warehouse paths, self-heal, latest-file rule, range, checks.

Real parts only: a temp lake folder (and moto S3 where it matters), a real DuckDB file.
Also provides small writers (`candle`, `day_files`, `write_files`, `insert_warehouse`) reused by the
asset test and the benchmark.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.footprint.candles import CANDLE_SCHEMA
from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.layers.summary.build import (
    build_summary,
    checks,
    compute_range,
    summary_from_lake,
    write_summary,
)
from orderflow_pipeline.layers.summary.context import load_context
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import load
from orderflow_pipeline.warehouse.schema import ensure_schema

D = date(2026, 2, 6)  # a Friday; 2026-02-05 (Thu) is its previous session
NOW = datetime(2026, 2, 6, 9, 0, 5, tzinfo=timezone.utc)
BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"


# -- writers -----------------------------------------------------------------------------------------


def candle(t0: int, o: int, h: int, lo: int, c: int, vol: int, delta: int) -> dict[str, Any]:
    bv, av = max(delta, 0), max(-delta, 0)
    levels = [{"p": c, "bv": bv, "av": av}] if bv + av else []
    return {"t0": t0, "ohlc": {"o": o, "h": h, "l": lo, "c": c}, "vol": vol, "delta": delta, "levels": levels}


def day_files(
    d: date, tickers: Iterable[str], *, utc_hours: Iterable[int] = (2, 3, 4), per_hour: int = 5, seed: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Random-walk candles for each ticker: `per_hour` minutes in each UTC hour of `d`."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for t in tickers:
        price = rng.randint(50, 5000)
        for hh in utc_hours:
            hour = datetime(d.year, d.month, d.day, hh, tzinfo=timezone.utc)
            rows = []
            for m in sorted(rng.sample(range(60), per_hour)):
                o = price
                c = max(1, o + rng.randint(-3, 3))
                h, lo = max(o, c) + rng.randint(0, 2), max(1, min(o, c) - rng.randint(0, 2))
                vol = rng.randint(0, 500)
                delta = rng.randint(-vol, vol)
                rows.append(
                    candle(int((hour + timedelta(minutes=m)).timestamp() * 1000), o, h, lo, c, vol, delta)
                )
                price = c
            out[keys.footprint_key(t, hour)] = rows
    return out


def ndjson(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in rows)


def write_files(lake: Lake, files: Mapping[str, list[dict[str, Any]]]) -> None:
    lake.write_many({k: ndjson(v) for k, v in files.items()})


def insert_warehouse(con: duckdb.DuckDBPyConnection, files: Mapping[str, list[dict[str, Any]]]) -> None:
    """Load candles into footprint_1m directly (the warehouse layer's columns, schema.py), via Arrow."""
    ensure_schema(con)
    names = CANDLE_SCHEMA.names  # footprint_1m's columns, in order
    cols: dict[str, list[Any]] = {n: [] for n in names}
    for key, cands in files.items():
        ticker, _ = keys.parse_footprint_key(key)
        for c in cands:
            o = c["ohlc"]
            values = (
                ticker,
                datetime.fromtimestamp(c["t0"] / 1000, keys.WIB).date(),
                c["t0"],
                o["o"],
                o["h"],
                o["l"],
                o["c"],
                c["vol"],
                c["delta"],
                sum(lv["bv"] for lv in c["levels"]),
                sum(lv["av"] for lv in c["levels"]),
                key,
            )
            for n, v in zip(names, values, strict=True):
                cols[n].append(v)
    batch = pa.table(cols)  # noqa: F841 - read by DuckDB's replacement scan
    con.execute(f"INSERT INTO footprint_1m ({', '.join(names)}) SELECT {', '.join(names)} FROM batch")


def insert_features(
    con: duckdb.DuckDBPyConnection, rows: Iterable[tuple[date, str, str, float | None]]
) -> None:
    ensure_schema(con)
    con.executemany(
        "INSERT INTO daily_features (date, ticker, state, score, z_ngr) VALUES (?, ?, ?, 0.0, ?)",
        [(d, t, st, z) for d, t, st, z in rows],
    )


def plain_item(cands: list[dict[str, Any]]) -> dict[str, Any]:
    """The §9 metrics in plain Python, independent of scoring.py."""
    cands = sorted(cands, key=lambda c: c["t0"])
    o, c = cands[0]["ohlc"]["o"], cands[-1]["ohlc"]["c"]
    h = max(x["ohlc"]["h"] for x in cands)
    lo = min(x["ohlc"]["l"] for x in cands)
    vol = sum(x["vol"] for x in cands)
    delta = sum(x["delta"] for x in cands)
    dp = delta / vol * 100 if vol else 0.0
    pp = (c - o) / o * 100
    return {
        "d": dp,
        "p": pp,
        "v": vol,
        "h": h,
        "l": lo,
        "r": h - lo,
        "f": (h - lo) / lo * 100,
        "div": abs(dp) / (1 + abs(pp)),
    }


@pytest.fixture
def con(tmp_path: Path) -> Iterable[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_schema(c)
    yield c
    c.close()


# -- the real BBRI hour ------------------------------------------------------------------------------


def _bbri(real: Path) -> tuple[bytes, list[dict[str, Any]]]:
    body = (real / BBRI_KEY).read_bytes()
    return body, [json.loads(ln) for ln in body.splitlines() if ln.strip()]


def _assert_matches_plain(item: dict[str, Any], want: dict[str, Any]) -> None:
    assert (item["v"], item["h"], item["l"], item["r"]) == (want["v"], want["h"], want["l"], want["r"])
    for k in ("d", "p", "f", "div"):
        assert item[k] == scoring.round_js(want[k], 2), k
        assert abs(item[k] - want[k]) <= 0.005 + 1e-9, k


def test_real_bbri_hour_from_lake(real: Path, local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    body, cands = _bbri(real)
    assert len(cands) == 60
    local_lake.write_bytes(BBRI_KEY, body)
    doc = summary_from_lake(local_lake, D, con, now=NOW)
    (item,) = doc["items"]
    assert item["t"] == "BBRI" and doc["source"] == "lake"
    _assert_matches_plain(item, plain_item(cands))
    # one hour only: the velocity window (t0 > last − 60 min) holds all 60 candles -> vel = d, accel 0
    assert item["vel"] == item["d"] and item["vel_accel"] == 0.0


def test_real_bbri_hour_from_warehouse(real: Path, local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    _, cands = _bbri(real)
    insert_warehouse(con, {BBRI_KEY: cands})
    doc = build_summary(local_lake, con, D, min_tickers=1, now=NOW)
    assert doc["source"] == "warehouse" and doc["count"] == 1
    _assert_matches_plain(doc["items"][0], plain_item(cands))
    assert doc["generated_at"] == "2026-02-06T09:00:05Z"
    assert local_lake.read_json(keys.summary_key(D)) == doc
    assert local_lake.read_json(keys.SUMMARY_LATEST) == doc


# -- lake and warehouse agree ------------------------------------------------------------------------


def test_lake_and_warehouse_paths_agree(any_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    files = day_files(D, [f"T{i:03d}" for i in range(20)])
    write_files(any_lake, files)
    insert_warehouse(con, files)
    insert_features(
        con, [(date(2026, 2, 5), "T001", "ACCUMULATION", 1.2), (date(2026, 2, 5), "T002", "NEUTRAL", -0.8)]
    )
    from_lake = summary_from_lake(any_lake, D, con, now=NOW)
    from_wh = build_summary(any_lake, con, D, min_tickers=1, now=NOW)
    assert from_wh["source"] == "warehouse" and from_lake["source"] == "lake"
    assert from_lake["items"] == from_wh["items"] and from_wh["count"] == 20
    by_t = {i["t"]: i for i in from_wh["items"]}
    assert by_t["T001"]["ctx_net"] == 1.2 and by_t["T001"]["ctx_st"] == "ACCUMULATION"
    assert by_t["T003"]["ctx_net"] is None
    # sorted by unrounded sc desc, then t
    sc = [i["sc"] for i in from_wh["items"]]
    assert sc == sorted(sc, reverse=True)
    # one ticker checked by hand-independent plain Python
    t5 = [c for k, v in files.items() if "/T005/" in k for c in v]
    _assert_matches_plain(by_t["T005"], plain_item(t5))


def test_velocity_cutoff_is_newest_t0_of_any_ticker(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    h2 = int(datetime(2026, 2, 6, 2, tzinfo=timezone.utc).timestamp() * 1000)
    m = 60_000
    files = {
        # AAA trades at 02:00 and 02:30 only; BBB's last candle at 03:40 sets the cut-off, so AAA's
        # window (t0 > 02:40) is empty -> vel 0; BBB: window holds 03:00 and 03:40 (t0 > 02:40).
        keys.footprint_key("AAA", datetime(2026, 2, 6, 2, tzinfo=timezone.utc)): [
            candle(h2, 100, 101, 99, 100, 10, 10),
            candle(h2 + 30 * m, 100, 101, 99, 101, 10, 4),
        ],
        keys.footprint_key("BBB", datetime(2026, 2, 6, 2, tzinfo=timezone.utc)): [
            candle(h2 + 5 * m, 200, 201, 199, 200, 100, -100)
        ],
        keys.footprint_key("BBB", datetime(2026, 2, 6, 3, tzinfo=timezone.utc)): [
            candle(h2 + 60 * m, 200, 201, 199, 200, 50, 30),
            candle(h2 + 100 * m, 200, 202, 199, 201, 50, 10),
        ],
    }
    write_files(local_lake, files)
    items = {i["t"]: i for i in summary_from_lake(local_lake, D)["items"]}
    # AAA: d = 14/20·100 = 70; vel 0; accel −70
    assert (items["AAA"]["d"], items["AAA"]["vel"], items["AAA"]["vel_accel"]) == (70.0, 0.0, -70.0)
    # BBB: d = −60/200·100 = −30; vel = 40/100·100 = 40; accel = 70
    assert (items["BBB"]["d"], items["BBB"]["vel"], items["BBB"]["vel_accel"]) == (-30.0, 40.0, 70.0)


def test_lake_path_skips_bad_lines_and_later_duplicate_wins(local_lake: Lake) -> None:
    hour = datetime(2026, 2, 6, 3, tzinfo=timezone.utc)
    t0 = int(hour.timestamp() * 1000)
    good = [candle(t0, 100, 102, 99, 101, 10, 5), candle(t0 + 60_000, 101, 103, 100, 102, 20, -4)]
    body = (
        ndjson(good)
        + b'{"t0": 1, "ohlc": trunc\n'
        + ndjson(
            [
                candle(t0 + 120_000, 105, 104, 100, 102, 20, 0),  # h < o: broken OHLC
                candle(t0 + 60_000, 101, 103, 100, 102, 40, 40),  # duplicate t0: this later line wins
            ]
        )
    )
    local_lake.write_bytes(keys.footprint_key("AAA", hour), body)
    (item,) = summary_from_lake(local_lake, D)["items"]
    # candles kept: t0 (vol 10, delta 5) and the later t0+1m (vol 40, delta 40): v 50, d = 45/50 = 90
    assert (item["v"], item["d"], item["h"], item["l"]) == (50, 90.0, 103, 99)


def test_no_data(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    doc = build_summary(local_lake, con, D, now=NOW)
    assert doc["status"] == "NO_DATA" and doc["items"] == [] and doc["count"] == 0
    assert local_lake.exists(keys.summary_key(D))
    assert not local_lake.exists(keys.SUMMARY_LATEST)  # an empty summary never becomes the latest
    with pytest.raises(ValueError):
        build_summary(local_lake, con, D, source="parquet")


# -- fallback to the lake and self-heal ----------------------------------------------------------------


def test_lake_fallback_lists_all_and_heals(tmp_path: Path, local_lake: Lake) -> None:
    tickers = [f"S{i:03d}" for i in range(600)]
    files = day_files(D, tickers, utc_hours=(2, 3), per_hour=3)
    first = {k: v for k, v in files.items() if keys.parse_footprint_key(k)[0] in set(tickers[:150])}
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_schema(con)
    try:
        write_files(local_lake, first)
        load.consolidate(local_lake, con, D)  # the warehouse knows 150 tickers
        write_files(local_lake, {k: v for k, v in files.items() if k not in first})
        n_wh = con.execute("SELECT count(DISTINCT ticker) FROM footprint_1m WHERE date = ?", [D]).fetchone()[
            0
        ]
        assert n_wh == 150
        doc = build_summary(local_lake, con, D, now=NOW)
        assert doc["source"] == "lake" and doc["count"] == 600
        assert {i["t"] for i in doc["items"]} == set(tickers)
        # healed: the next run takes the fast path and says so, with identical items
        again = build_summary(local_lake, con, D, now=NOW)
        assert again["source"] == "warehouse" and again["items"] == doc["items"]
    finally:
        con.close()


def test_read_only_connection_builds_without_heal(tmp_path: Path, local_lake: Lake) -> None:
    path = str(tmp_path / "ro.duckdb")
    with duckdb.connect(path) as c:
        ensure_schema(c)
    write_files(local_lake, day_files(D, ["AAA", "BBB"]))
    with duckdb.connect(path, read_only=True) as ro:
        doc = build_summary(local_lake, ro, D, now=NOW)
        assert (
            doc["source"] == "lake" and doc["count"] == 2
        )  # built and written; the heal just could not write
        assert local_lake.read_json(keys.summary_key(D))["count"] == 2
        assert ro.execute("SELECT count(*) FROM footprint_1m").fetchone()[0] == 0


def test_source_lake_requested(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    files = day_files(D, ["AAA", "BBB"])
    write_files(local_lake, files)
    insert_warehouse(con, files)
    assert build_summary(local_lake, con, D, min_tickers=1, now=NOW)["source"] == "warehouse"
    assert build_summary(local_lake, con, D, source="lake", min_tickers=1, now=NOW)["source"] == "lake"
    assert build_summary(local_lake, None, D, now=NOW)["source"] == "lake"  # no warehouse at all


# -- context ---------------------------------------------------------------------------------------------


def test_context_newest_before_d_and_null_z(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    insert_features(
        con,
        [
            (date(2026, 2, 4), "AAA", "DISTRIBUTION", -2.0),
            (date(2026, 2, 5), "AAA", "ACCUMULATION", 1.5),
            (date(2026, 2, 5), "BBB", "NEUTRAL", None),  # insufficient history: no context
            (D, "AAA", "DISTRIBUTION", -3.0),  # D's own features are never D's context
        ],
    )
    ctx = load_context(con, D)
    assert ctx.found and ctx.ctx_date == date(2026, 2, 5)
    assert (
        set(ctx.rows) == {"AAA"} and ctx.rows["AAA"].z_ngr == 1.5 and ctx.rows["AAA"].state == "ACCUMULATION"
    )
    write_files(local_lake, day_files(D, ["AAA", "BBB"]))
    doc = build_summary(local_lake, con, D, now=NOW)
    assert doc["ctx_found"] is True and doc["ctx_date"] == "2026-02-05"
    items = {i["t"]: i for i in doc["items"]}
    assert (items["AAA"]["ctx_net"], items["AAA"]["ctx_st"]) == (1.5, "ACCUMULATION")
    assert (items["BBB"]["ctx_net"], items["BBB"]["ctx_st"]) == (None, None)


def test_context_age_limit(con: duckdb.DuckDBPyConnection) -> None:
    seven, eight = idx_calendar.previous_sessions(D, 8)[6:8]
    assert idx_calendar.sessions_between(seven, D) == 7 and idx_calendar.sessions_between(eight, D) == 8
    insert_features(con, [(eight, "AAA", "ACCUMULATION", 1.0)])
    ctx = load_context(con, D)
    assert (ctx.found, ctx.ctx_date, ctx.rows) == (False, None, {})
    insert_features(con, [(seven, "AAA", "ACCUMULATION", 1.0)])
    ctx = load_context(con, D)
    assert ctx.found and ctx.ctx_date == seven and ctx.rows["AAA"].z_ngr == 1.0
    assert load_context(None, D).found is False


# -- latest copy ---------------------------------------------------------------------------------------


def test_latest_only_for_newest_date(any_lake: Lake) -> None:
    d1, d2, d3 = date(2026, 2, 4), date(2026, 2, 5), D
    for d in (d2, d1):  # the newer date first, then a backfill of an older one
        write_files(any_lake, day_files(d, ["AAA"]))
        build_summary(any_lake, None, d, now=NOW)
    assert any_lake.read_json(keys.SUMMARY_LATEST)["date"] == "2026-02-05"
    assert any_lake.read_json(keys.summary_key(d1))["date"] == "2026-02-04"
    write_files(any_lake, day_files(d3, ["AAA"]))
    build_summary(any_lake, None, d3, now=NOW)
    assert any_lake.read_json(keys.SUMMARY_LATEST)["date"] == "2026-02-06"
    # re-running the newest date with new content replaces it (same date is not older)
    changed = {**any_lake.read_json(keys.summary_key(d3)), "generated_at": "x", "message": "new content"}
    assert write_summary(any_lake, changed, now=NOW)
    assert any_lake.read_json(keys.SUMMARY_LATEST)["generated_at"] == "x"


# -- range (formula B) ---------------------------------------------------------------------------------


def test_compute_range_formula_b(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    d1, d2 = date(2026, 2, 4), date(2026, 2, 5)
    t1 = int(datetime(2026, 2, 4, 3, tzinfo=timezone.utc).timestamp() * 1000)
    t2 = int(datetime(2026, 2, 5, 3, tzinfo=timezone.utc).timestamp() * 1000)
    files = {
        keys.footprint_key("AAA", datetime(2026, 2, 4, 3, tzinfo=timezone.utc)): [
            candle(t1, 1000, 1010, 990, 1000, 100, 10)
        ],
        keys.footprint_key("AAA", datetime(2026, 2, 5, 3, tzinfo=timezone.utc)): [
            candle(t2, 1000, 1020, 1000, 1010, 100, 10)
        ],
        keys.footprint_key("AAA", datetime(2026, 2, 6, 3, tzinfo=timezone.utc)): [
            candle(int(NOW.timestamp() * 1000) - 5 * 3_600_000, 1, 1, 1, 1, 1, 1)
        ],  # outside the range
    }
    insert_warehouse(con, files)
    insert_features(con, [(date(2026, 2, 3), "AAA", "ACCUMULATION", 1.0), (d1, "AAA", "DISTRIBUTION", -3.0)])
    doc = compute_range(con, d1, d2, now=NOW)
    (item,) = doc["items"]
    # open 1000 (first day), close 1010 (last day), v 200, delta 20: dp = 10, pp = 1
    # context = newest features before 2026-02-04 = 2026-02-03 (z 1, ACCUMULATION):
    # rt = 0.7·0.7 + 0.3·0.6 = 0.67; h = 0.6667 + 0.1 = 0.7667; sc = 0.469 + 0.23 = 0.699
    assert (item["v"], item["h"], item["l"], item["d"], item["p"]) == (200, 1020, 990, 10.0, 1.0)
    assert item["sc"] == 0.699 and item["ctx_st"] == "ACCUMULATION"
    # 0.699 > 0.6 and pp ≥ −3; rule 1 needs > 0.7; rule 3 needs z > 0.7 (1.0 ✓), dp < 40 ✓ -> HIDDEN_ACCUM
    assert item["sig"] == "HIDDEN_ACCUM"
    assert doc["ctx_date"] == "2026-02-03" and doc["from"] == "2026-02-04" and doc["to"] == "2026-02-05"
    assert doc["status"] == "OK" and doc["source"] == "warehouse"
    # a single date (what the read-side fallback asks for): context = newest before that date
    single = compute_range(con, d2, d2, now=NOW)
    assert single["ctx_date"] == "2026-02-04" and single["items"][0]["ctx_st"] == "DISTRIBUTION"
    assert compute_range(con, date(2026, 1, 5), date(2026, 1, 6))["status"] == "NO_DATA"
    with pytest.raises(ValueError):
        compute_range(con, d2, d1)


# -- checks ----------------------------------------------------------------------------------------------


def test_checks(local_lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    outcomes = {o.name: o for o in checks(local_lake, con, D)}
    assert outcomes["summary_has_items"].passed is False and outcomes["summary_has_items"].severity == "ERROR"
    files = day_files(D, [f"T{i:02d}" for i in range(12)])
    write_files(local_lake, files)
    insert_warehouse(con, files)
    build_summary(local_lake, con, D, min_tickers=1, now=NOW)
    outcomes = {o.name: o for o in checks(local_lake, con, D)}
    assert all(o.passed for o in outcomes.values()), [o for o in outcomes.values() if not o.passed]
    assert set(outcomes) == {
        "summary_has_items",
        "summary_scores_in_range",
        "summary_signals_in_table",
        "summary_count_within_warehouse",
        "summary_matches_warehouse",
    }
    assert len(outcomes["summary_matches_warehouse"].metadata["sampled"]) == 5
    # tamper: a score out of range, an unknown signal, a wrong volume, more items than the warehouse has
    doc = local_lake.read_json(keys.summary_key(D))
    doc["items"][0]["sc"] = 1.5
    doc["items"][1]["sig"] = "MOON"
    for i in doc["items"]:
        i["v"] += 1
    doc["items"].append({**doc["items"][2], "t": "EXTRA"})
    local_lake.write_json(keys.summary_key(D), doc)
    outcomes = {o.name: o for o in checks(local_lake, con, D)}
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert failed == {
        "summary_scores_in_range",
        "summary_signals_in_table",
        "summary_count_within_warehouse",
        "summary_matches_warehouse",
    }
    assert all(outcomes[n].severity == "WARN" for n in failed)
    # without a warehouse connection only the lake checks run
    assert {o.name for o in checks(local_lake, None, D) if not o.passed} == {
        "summary_scores_in_range",
        "summary_signals_in_table",
    }


# -- unchanged summaries are not rewritten (issue 16) ---------------------------------------------------


def _stat(lake: Lake, key: str) -> tuple[bytes, int]:
    p = Path(lake.path(key))
    return p.read_bytes(), p.stat().st_mtime_ns


def test_rerun_of_an_unchanged_date_rewrites_nothing(
    local_lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    files = day_files(D, ["AAA", "BBB"])
    write_files(local_lake, files)
    insert_warehouse(con, files)
    first = build_summary(local_lake, con, D, min_tickers=1, now=NOW)
    before = {k: _stat(local_lake, k) for k in (keys.summary_key(D), keys.SUMMARY_LATEST)}
    later = NOW + timedelta(minutes=30)
    again = build_summary(local_lake, con, D, min_tickers=1, now=later)
    # Same bytes, same mtime: neither the per-date file nor the latest copy was written again, and the
    # document returned is the kept one (generated_at = when the content was first produced).
    assert {k: _stat(local_lake, k) for k in before} == before
    assert again == first and again["generated_at"] == "2026-02-06T09:00:05Z"
    # NOW is 16:00 WIB on D itself: the run's check time is recorded beside the file, not in it.
    from orderflow_pipeline.layers.summary.build import checked_key, last_built_at

    assert local_lake.read_json(checked_key(D))["checked_at"] == "2026-02-06T09:30:05Z"
    assert last_built_at(local_lake, D) == later

    # Changed input (one more minute for AAA): both files are rewritten with the new generated_at.
    t_new = int(datetime(2026, 2, 6, 4, 59, tzinfo=timezone.utc).timestamp() * 1000)
    insert_warehouse(
        con, {"footprint/AAA/1m/2026/02/06/04.jsonl": [candle(t_new, 100, 101, 99, 100, 10, 10)]}
    )
    changed = build_summary(local_lake, con, D, min_tickers=1, now=later)
    assert changed["generated_at"] == "2026-02-06T09:30:05Z" and changed["items"] != first["items"]
    for k, (body, _) in before.items():
        assert (
            _stat(local_lake, k)[0] != body
            and local_lake.read_json(k)["generated_at"] == changed["generated_at"]
        )


def test_rerun_of_an_older_date_writes_no_state(local_lake: Lake) -> None:
    d_old = date(2026, 2, 5)
    write_files(local_lake, day_files(d_old, ["AAA"]))
    build_summary(local_lake, None, d_old, now=NOW)
    build_summary(local_lake, None, d_old, now=NOW + timedelta(hours=1))
    from orderflow_pipeline.layers.summary.build import checked_key

    # Freshness is only ever checked for today, so a backfill re-run leaves no trace at all.
    assert not local_lake.exists(checked_key(d_old))


def test_unchanged_rerun_during_market_hours_is_not_stale(
    local_lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    from orderflow_pipeline.read.integrity import freshness_outcomes

    files = day_files(D, ["AAA"], utc_hours=(2,))
    write_files(local_lake, files)
    insert_warehouse(con, files)
    wib = keys.WIB
    build_summary(local_lake, con, D, min_tickers=1, now=datetime(2026, 2, 6, 9, 55, tzinfo=wib))
    # Quiet market: the 10:20 run finds the same content and keeps the 09:55 file ...
    build_summary(local_lake, con, D, min_tickers=1, now=datetime(2026, 2, 6, 10, 20, tzinfo=wib))
    assert local_lake.read_json(keys.summary_key(D))["generated_at"] == "2026-02-06T02:55:00Z"
    # ... and at 10:25 the summary was last produced 5 min ago (≤ 10): fresh, not 30 min stale.
    (fresh,) = [
        o
        for o in freshness_outcomes(local_lake, D, datetime(2026, 2, 6, 10, 25, tzinfo=wib))
        if o.name == "summary_fresh"
    ]
    assert fresh.passed and fresh.metadata["age_seconds"] == 300
    # Without a run for 11 more minutes it does go stale (the check can still fail).
    (stale,) = [
        o
        for o in freshness_outcomes(local_lake, D, datetime(2026, 2, 6, 10, 31, tzinfo=wib))
        if o.name == "summary_fresh"
    ]
    assert not stale.passed and stale.metadata["age_seconds"] == 660


# -- each input read once per date (issue 28) -------------------------------------------------------


class CountingLake(Lake):
    """The real local lake, counting the reads of each key (every read goes through read_bytes)."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()

    def read_bytes(self, key: str) -> bytes:
        self.reads[key] += 1
        return super().read_bytes(key)


def test_each_input_is_read_once_per_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, con: duckdb.DuckDBPyConnection
) -> None:
    from orderflow_pipeline.layers.summary import build as summary_build
    from orderflow_pipeline.storage import inventory
    from orderflow_pipeline.warehouse import queries

    listings: list[date] = []

    def listing(lake: Lake, d: date | str, temps: list[str] | None = None) -> dict[str, Any]:
        listings.append(keys.as_date(d))
        return inventory.footprint_objects(lake, d, temps)

    # the summary's own listings (coverage, manifest comparison, lake path); the heal's is the
    # warehouse layer's (load.consolidate) and is not counted here
    monkeypatch.setattr(summary_build, "footprint_objects", listing)
    monkeypatch.setattr(queries, "footprint_objects", listing)
    lake = CountingLake(str(tmp_path / "lake"))
    files = day_files(D, ["AAA", "BBB", "CCC"])
    write_files(lake, files)
    insert_warehouse(con, {k: v for k, v in files.items() if "/AAA/" in k})  # BBB, CCC missing
    own = (keys.summary_key(D), keys.SUMMARY_LATEST)

    # 1. lake path + heal (the warehouse lacks two tickers), 2. the fast path, 3. unchanged re-run
    for n, (source, healed) in enumerate([("lake", True), ("warehouse", False), ("warehouse", False)]):
        listings.clear()
        lake.reads.clear()
        built = summary_build.build(lake, con, D, min_tickers=1, now=NOW)
        assert built.doc["source"] == source and built.doc["count"] == 3, n
        assert (built.heal is not None) == healed
        if built.heal is not None:  # the manifests the asset reports the heal from: every file now
            before_heal, after_heal = built.heal  # (insert_warehouse wrote rows, not a manifest)
            assert not before_heal and sorted(after_heal) == sorted(files)
        assert listings == [D], n  # one footprint listing of the date
        assert all(lake.reads[k] <= 1 for k in own), (n, lake.reads)
        # the asset's checks take the built document: the file is not read back
        before = dict(lake.reads)
        outcomes = summary_build.checks(lake, con, D, doc=built.doc)
        assert dict(lake.reads) == before and all(o.passed for o in outcomes), n
        # ... and they are the checks of the file as written
        assert [(o.name, o.passed, o.metadata) for o in outcomes] == [
            (o.name, o.passed, o.metadata) for o in summary_build.checks(lake, con, D)
        ]


def _backfill_world(folder: Path) -> tuple[Lake, duckdb.DuckDBPyConnection, list[date]]:
    """Three sessions; the warehouse lacks HEAL on the middle one (that date heals from the lake),
    and HEAL closes D at ARA of that session's close, so D's `lim` needs the heal's candles."""
    days = sorted([*idx_calendar.previous_sessions(D, 2), D])
    lake = Lake(str(folder / "lake"))
    con = duckdb.connect(str(folder / "wh.duckdb"))
    ensure_schema(con)
    heal = {
        d: {keys.footprint_key("HEAL", datetime(d.year, d.month, d.day, 3, tzinfo=timezone.utc)): [
            candle(int(datetime(d.year, d.month, d.day, 3, m, tzinfo=timezone.utc).timestamp() * 1000),
                   c, c, c, c, 10, 2) for m, c in ((0, close - 5), (1, close))]}
        for d, close in zip(days, (1100, 1000, 1250), strict=True)  # ARA of 1,000, not of 1,100
    }  # fmt: skip
    for i, d in enumerate(days):
        files = {**day_files(d, ["AAA", "BBB", "CCC"], seed=i), **heal[d]}
        write_files(lake, files)
        insert_warehouse(con, files if i != 1 else {k: v for k, v in files.items() if "/HEAL/" not in k})
    insert_features(con, [(days[0], "AAA", "ACCUMULATION", 1.2), (days[1], "BBB", "DISTRIBUTION", -0.7)])
    return lake, con, days


def test_a_backfill_is_each_date_built_alone(tmp_path: Path) -> None:
    """`backfill.build_many` + `checks_many` (the asset: each input gathered once for all dates)
    write the documents, files, warehouse rows and check outcomes that building and checking each
    date alone gives, a self-heal's effect on the next date's previous closes included."""
    from orderflow_pipeline.layers.summary import backfill
    from orderflow_pipeline.layers.summary import build as summary_build

    lake_a, con_a, days = _backfill_world(tmp_path / "a")
    lake_b, con_b, _ = _backfill_world(tmp_path / "b")
    alone, checks_a = {}, {}
    for d in days:  # the asset before the batch: build a date, then check it
        alone[d] = summary_build.build(lake_a, con_a, d, min_tickers=1, now=NOW)
        checks_a[d] = summary_build.checks(lake_a, con_a, d, doc=alone[d].doc)
    batch = dict(backfill.build_many(lake_b, con_b, reversed(days), min_tickers=1, now=NOW))
    checks_b = backfill.checks_many(lake_b, con_b, {d: b.doc for d, b in batch.items()})
    assert [d for d in batch] == days
    assert [alone[d].heal is not None for d in days] == [False, True, False]
    assert {i["t"]: i["lim"] for i in alone[D].doc["items"]}["HEAL"] == "ARA"  # the heal's close
    for d in days:
        assert batch[d].doc == alone[d].doc, d
        # the heal's manifests, but for the fingerprints (file mtimes: two lakes)
        assert [{k: (v[0], *v[2:]) for k, v in m.items()} for m in batch[d].heal or ()] == [
            {k: (v[0], *v[2:]) for k, v in m.items()} for m in alone[d].heal or ()
        ], d
        assert [(o.name, o.passed, o.description, o.metadata) for o in checks_b[d]] == [
            (o.name, o.passed, o.description, o.metadata) for o in checks_a[d]
        ], d
    for prefix in ("features/", "_state/"):
        assert {k: lake_b.read_bytes(k) for k in lake_b.list(prefix)} == {
            k: lake_a.read_bytes(k) for k in lake_a.list(prefix)
        }
    q = "SELECT * FROM footprint_1m ORDER BY ALL"
    assert con_b.execute(q).fetchall() == con_a.execute(q).fetchall()
    assert lake_b.read_bytes(keys.SUMMARY_LATEST) == lake_b.read_bytes(keys.summary_key(D))
    # a latest copy of a newer date stays: a backfill of older dates never replaces it
    newer = dumps({"date": (D + timedelta(days=3)).isoformat(), "items": [{"t": "ZZZ"}]})
    lake_b.write_bytes(keys.SUMMARY_LATEST, newer)
    list(backfill.build_many(lake_b, con_b, days, min_tickers=1, now=NOW))
    assert lake_b.read_bytes(keys.SUMMARY_LATEST) == newer
