"""Signal outcomes (issue 21) on a real lake folder and a real DuckDB file.

1. A hand-built three-session case: returns worked by hand below, and the partition of D filling
   in when a later session arrives.
2. A simulated market whose regimes persist (a Markov chain per ticker, 85% stay): candles go
   through the real warehouse load and the real summary (formula A, signals), then outcomes; the
   buy family's next-day hit rate beats NEUTRAL's.
"""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers import outcome_report, outcomes
from orderflow_pipeline.layers.outcome_report import ReportRow
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import load, schema

WIB = keys.WIB
D1, D2, D3 = date(2026, 2, 2), date(2026, 2, 3), date(2026, 2, 4)  # Mon, Tue, Wed


def candle(d: date, minute: int, o: int, c: int, vol: int = 100, buy_share: float = 0.5) -> dict[str, Any]:
    t0 = int(datetime(d.year, d.month, d.day, 9, minute, tzinfo=WIB).timestamp() * 1000)
    bv = round(vol * buy_share)
    return {"t0": t0, "ohlc": {"o": o, "h": max(o, c), "l": min(o, c), "c": c}, "vol": vol,
            "delta": bv - (vol - bv), "levels": [{"p": c, "bv": bv, "av": vol - bv}]}  # fmt: skip


def write_candles(lake: Lake, ticker: str, candles: list[dict[str, Any]]) -> None:
    by_key: dict[str, list[bytes]] = {}
    for c in candles:
        hour = datetime.fromtimestamp(c["t0"] // 3_600_000 * 3600, tz=timezone.utc)
        by_key.setdefault(keys.footprint_key(ticker, hour), []).append(dumps(c))
    lake.write_many({k: b"\n".join(v) + b"\n" for k, v in by_key.items()})


def write_summary_items(lake: Lake, d: date, items: list[dict[str, Any]]) -> None:
    lake.write_bytes(keys.summary_key(d), dumps({"status": "OK", "date": d.isoformat(), "items": items}))


@pytest.fixture
def world(tmp_path: Path) -> tuple[Lake, duckdb.DuckDBPyConnection]:
    lake = Lake(str(tmp_path / "lake"))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    schema.ensure_schema(con)
    return lake, con


def test_three_sessions_worked_by_hand(world: tuple[Lake, duckdb.DuckDBPyConnection]) -> None:
    lake, con = world
    # A: D1 opens 100, closes 102 (two candles); D2 opens 103, closes 105; D3 opens 104, closes 99.
    write_candles(lake, "AAA", [candle(D1, 0, 100, 101), candle(D1, 1, 101, 102)])
    write_candles(lake, "AAA", [candle(D2, 0, 103, 104), candle(D2, 5, 104, 105)])
    # B: trades D1 (close 200) and D3 (open 210, close 220), not D2: its own next session is D3.
    write_candles(lake, "BBB", [candle(D1, 0, 198, 200)])
    for d in (D1, D2):
        load.consolidate(lake, con, d)
    # C is in D1's summary but has no candles in the warehouse: every return null.
    write_summary_items(lake, D1, [{"t": "AAA", "sig": "BUY", "sc": 0.65}, {"t": "BBB", "sig": "NEUTRAL", "sc": 0.5},
                                   {"t": "CCC", "sig": "SELL", "sc": 0.2}])  # fmt: skip
    write_summary_items(lake, D2, [{"t": "AAA", "sig": "STRONG_SELL", "sc": 0.25}])

    r1 = outcomes.build_outcomes(lake, con, D1)
    assert (r1.items, r1.with_next, r1.with_5d, r1.complete) == (3, 1, 0, False)
    # Before D3 exists: B has no next session yet.
    b = con.execute(
        "SELECT ret_next_cc FROM signal_outcomes WHERE date = ? AND ticker = 'BBB'", [D1]
    ).fetchone()
    assert b == (None,)

    write_candles(lake, "AAA", [candle(D3, 0, 104, 100), candle(D3, 9, 100, 99)])
    write_candles(lake, "BBB", [candle(D3, 0, 210, 215), candle(D3, 1, 215, 220)])
    load.consolidate(lake, con, D3)
    write_summary_items(lake, D3, [{"t": "AAA", "sig": "BUY", "sc": 0.61}])
    for d in (D1, D2, D3):  # D1 and D2 are built again now that D3 exists (the sensor's job)
        outcomes.build_outcomes(lake, con, d)

    got = {
        (d, t): (s, sc, oc, cc, r5)
        for d, t, s, sc, oc, cc, r5 in con.execute(
            "SELECT date, ticker, sig, sc, ret_next_oc, ret_next_cc, ret_5d FROM signal_outcomes "
            "ORDER BY date, ticker"
        ).fetchall()
    }
    # Worked by hand:
    # A on D1: oc = (105 - 103) / 103 * 100 = 1.9417...; cc = (105 - 102) / 102 * 100 = 2.9411...
    # B on D1: next own session D3: oc = (220 - 210) / 210 * 100 = 4.7619...; cc = (220 - 200) / 200 * 100 = 10
    # A on D2: oc = (99 - 104) / 104 * 100 = -4.8076...; cc = (99 - 105) / 105 * 100 = -5.7142...
    # A on D3: nothing after it yet.  ret_5d: no ticker has 5 later sessions.
    expect = {
        (D1, "AAA"): ("BUY", 0.65, 200 / 103, 300 / 102, None),
        (D1, "BBB"): ("NEUTRAL", 0.5, 1000 / 210, 10.0, None),
        (D1, "CCC"): ("SELL", 0.2, None, None, None),
        (D2, "AAA"): ("STRONG_SELL", 0.25, -500 / 104, -600 / 105, None),
        (D3, "AAA"): ("BUY", 0.61, None, None, None),
    }
    assert set(got) == set(expect)
    for k, row in expect.items():
        for g, e in zip(got[k], row, strict=True):
            ok = g == e if e is None or isinstance(e, str) else g == pytest.approx(e, rel=1e-12)
            assert ok, (k, got[k], row)
    doc = json.loads(lake.read_bytes(keys.signal_outcomes_key(D1)))
    # B's prices: close(D1) 200, D3 opens 210 and closes 220 (inside 200's band 170..250: no limit)
    assert doc["count"] == 3 and doc["items"][1] == {"t": "BBB", "sig": "NEUTRAL", "sc": 0.5,
                                                     "ret_next_oc": pytest.approx(1000 / 210),
                                                     "ret_next_cc": 10.0, "ret_5d": None,
                                                     "close_d": 200, "open_next": 210, "close_next": 220,
                                                     "close_5d": None, "lim": None, "lim_next": None}  # fmt: skip
    # An unchanged re-run rewrites nothing.
    assert outcomes.build_outcomes(lake, con, D1).file_written is False


def test_ret_5d_is_the_fifth_own_session() -> None:
    d = date(2026, 2, 2)
    days = idx_calendar.trading_days(d, date(2026, 2, 20))
    # close(D) = 100; closes of the next sessions 101..106; the 5th after D closes 105.
    sessions = {"X": [(day, 100 + i, 100 + i) for i, day in enumerate(days[:7])]}
    (row,) = outcomes.compute_outcomes(d, [{"t": "X", "sig": "BUY", "sc": 0.7}], sessions)
    assert row["ret_5d"] == pytest.approx(5.0) and row["ret_next_cc"] == pytest.approx(1.0)
    assert row["ret_next_oc"] == 0.0  # open == close on D+1


def rrow(sig: str, cc: float | None, d: date = D1, *, lim: str | None = None) -> ReportRow:
    """A report row with only its next-day close-to-close return (from a close of 1000: the
    prices are there so the net figures exist; this test reads the gross ones)."""
    nxt = None if cc is None else round(1000 * (1 + cc / 100))
    return ReportRow(d, "AAAA", sig, None, cc, None, 1000, None, nxt, None, lim, None)


def test_report_worked_by_hand() -> None:
    rows = [rrow("BUY", 1.0), rrow("BUY", -2.0), rrow("BUY", 3.0), rrow("STRONG_SELL", -1.0),
            rrow("STRONG_SELL", 0.5), rrow("NEUTRAL", 1.0), rrow("NEUTRAL", -1.0), rrow("NEUTRAL", -1.0),
            rrow("NEUTRAL", 0.0), rrow("HIDDEN_ACCUM", None)]  # fmt: skip
    rep = outcome_report.report_from_rows(rows, sessions=[D1, D3], days=60)
    sig = {s["signal"]: s for s in rep["signals"]}
    # BUY: 2 of 3 > 0; mean 2/3; median 1. STRONG_SELL (sell family): 1 of 2 < 0; mean -0.25.
    assert sig["BUY"]["count"] == 3 and sig["BUY"]["hit_rate"] == pytest.approx(2 / 3)
    assert sig["BUY"]["mean"] == pytest.approx(2 / 3) and sig["BUY"]["median"] == 1.0
    assert sig["STRONG_SELL"]["hit_rate"] == 0.5 and sig["STRONG_SELL"]["direction"] == "down"
    # NEUTRAL: 1 of 4 up (baseline for buys), 2 of 4 down (baseline for sells).
    assert rep["baseline"]["hit_rate"] == 0.25 and rep["baseline"]["down_rate"] == 0.5
    assert sig["BUY"]["edge"] == pytest.approx(2 / 3 - 0.25) and sig["STRONG_SELL"]["edge"] == 0.0
    assert sig["HIDDEN_ACCUM"]["count"] == 0  # only null returns: nothing to count
    fam = {f["signal"]: f for f in rep["families"]}
    assert fam["BUY_FAMILY"]["count"] == 3 and fam["SELL_FAMILY"]["count"] == 2
    lo, hi = sig["BUY"]["ci95"]
    assert -2.0 <= lo <= 2 / 3 <= hi <= 3.0
    assert outcome_report.report_from_rows(rows, sessions=[D1, D3], days=60) == rep  # seeded: same interval


# -- simulated market with persistent regimes ------------------------------------------------------


def regime_market(lake: Lake, days: list[date], n: int, seed: int) -> None:
    """Each ticker is in UP, DOWN or FLAT; it keeps its regime the next day with p = 0.85.
    UP: buyers take ~75% of the volume and the price rises ~2% over the day; DOWN the mirror;
    FLAT: 50/50 and a random walk. Prices on the 5-lot grid (500-2000 band)."""
    rng = random.Random(seed)
    regs = ["UP", "DOWN", "FLAT"]
    for j in range(n):
        t = f"S{j:03d}"
        reg = rng.choice(regs)
        px = rng.randrange(200, 380) * 5
        out: list[dict[str, Any]] = []
        for d in days:
            if rng.random() > 0.85:
                reg = rng.choice([r for r in regs if r != reg])
            drift = {"UP": 0.02, "DOWN": -0.02, "FLAT": 0.0}[reg] + rng.gauss(0, 0.01)
            share = {"UP": 0.75, "DOWN": 0.25, "FLAT": 0.5}[reg] + rng.uniform(-0.05, 0.05)
            o = px
            for m in range(20):
                target = o * (1 + drift * (m + 1) / 20)
                c = max(5, int(round(target / 5)) * 5)
                out.append(candle(d, m, px, c, vol=rng.randrange(50, 300), buy_share=share))
                px = c
            px = max(5, int(round(px * (1 + rng.gauss(0, 0.003)) / 5)) * 5)  # overnight gap
        write_candles(lake, t, out)


def test_buy_family_beats_neutral_on_a_market_whose_regimes_persist(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    schema.ensure_schema(con)
    days = idx_calendar.trading_days(date(2026, 3, 2), date(2026, 4, 30))[:30]
    regime_market(lake, days, 40, seed=11)
    for d in days:
        load.consolidate(lake, con, d)
        summary.build_summary(lake, con, d, source="warehouse", min_tickers=1)
    for d in days:
        outcomes.build_outcomes(lake, con, d)
    rep = outcome_report.rolling_report(con, days=60)
    buy = next(f for f in rep["families"] if f["signal"] == "BUY_FAMILY")
    base = rep["baseline"]
    print(f"\nBUY_FAMILY next-day hit rate {buy['hit_rate']:.3f} (n={buy['count']}, mean {buy['mean']:.3f}%, "
          f"95% CI of the mean {buy['ci95'][0]:.3f}..{buy['ci95'][1]:.3f}); NEUTRAL {base['hit_rate']:.3f} "
          f"(n={base['count']}, mean {base['mean']:.3f}%, 95% CI {base['ci95'][0]:.3f}..{base['ci95'][1]:.3f})")  # fmt: skip
    assert buy["count"] >= 30 and base["count"] >= 30
    assert buy["hit_rate"] > base["hit_rate"]
    # and not by luck of the draw: the buy family's mean-return interval sits above NEUTRAL's mean
    assert buy["ci95"][0] > base["mean"]
    assert math.isfinite(buy["mean"])


def test_partition_completes_when_the_fifth_session_exists(
    world: tuple[Lake, duckdb.DuckDBPyConnection],
) -> None:
    lake, con = world
    days = idx_calendar.trading_days(D1, date(2026, 2, 20))[:6]  # D1 and its next five sessions
    write_candles(lake, "XXX", [candle(d, 0, 100 + i, 100 + i) for i, d in enumerate(days)])
    write_summary_items(
        lake, D1, [{"t": "XXX", "sig": "BUY", "sc": 0.7}, {"t": "NOC", "sig": "NEUTRAL", "sc": 0.5}]
    )
    for d in days[:5]:
        load.consolidate(lake, con, d)
    assert outcomes.build_outcomes(lake, con, D1).complete is False  # 4 later sessions so far
    load.consolidate(lake, con, days[5])
    res = outcomes.build_outcomes(lake, con, D1)
    # close(D1) = 100, close(D1+5) = 105: ret_5d = 5%; NOC has no D1 candle and never completes,
    # so it does not hold the partition open
    assert res.complete is True and res.with_5d == 1
    row = con.execute("SELECT ret_5d FROM signal_outcomes WHERE ticker = 'XXX'").fetchone()
    assert row is not None and row[0] == pytest.approx(5.0)


def test_a_warehouse_made_before_issue_27_gains_the_new_columns(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute(
        "CREATE TABLE signal_outcomes (date DATE NOT NULL, ticker VARCHAR NOT NULL, sig VARCHAR NOT NULL, "
        "sc DOUBLE, ret_next_oc DOUBLE, ret_next_cc DOUBLE, ret_5d DOUBLE, PRIMARY KEY (date, ticker))"
    )
    con.execute("INSERT INTO signal_outcomes VALUES ('2026-02-02', 'AAA', 'BUY', 0.7, 1.0, 2.0, NULL)")
    schema.ensure_schema(con)
    schema.ensure_schema(con)  # idempotent
    cols = [r[0] for r in con.execute("DESCRIBE signal_outcomes").fetchall()]
    assert cols == list(outcomes.COLUMNS)
    assert con.execute("SELECT ticker, close_d, lim FROM signal_outcomes").fetchall() == [("AAA", None, None)]


def test_summary_item_lim_from_the_previous_close_reaches_the_outcomes(
    world: tuple[Lake, duckdb.DuckDBPyConnection],
) -> None:
    lake, con = world
    # UP: D1 closes 1,000; D2 closes 1,250 = its ARA (1,000 × 1.25, on the 5-IDR grid).
    # DN: D1 closes 300; D2 closes 256 = its ARB (300 × 0.85 = 255, up to the 2-IDR grid).
    # MID: D1 closes 500, D2 closes 510: inside the band. NEW: no D1 candle, so no previous close.
    write_candles(lake, "UPUP", [candle(D1, 0, 990, 1000), candle(D2, 0, 1100, 1250)])
    write_candles(lake, "DNDN", [candle(D1, 0, 310, 300), candle(D2, 0, 280, 256)])
    write_candles(lake, "MIDD", [candle(D1, 0, 500, 500), candle(D2, 0, 505, 510)])
    write_candles(lake, "NEWW", [candle(D2, 0, 100, 135)])
    for d in (D1, D2):
        load.consolidate(lake, con, d)
    doc = summary.build_summary(lake, con, D2, source="warehouse", min_tickers=1)
    lims = {i["t"]: i["lim"] for i in doc["items"]}
    assert lims == {"UPUP": "ARA", "DNDN": "ARB", "MIDD": None, "NEWW": None}
    outcomes.build_outcomes(lake, con, D2)
    rows = dict(con.execute("SELECT ticker, lim FROM signal_outcomes WHERE date = ?", [D2]).fetchall())
    assert rows == lims


def test_a_report_over_a_warehouse_not_yet_migrated_says_which_sessions_lack_prices(tmp_path: Path) -> None:
    # `orderflow outcomes` on a warehouse of the previous version (no writer since): it raised a
    # DuckDB BinderException (close_d not found). Now the old row is read (gross returns kept) and
    # the report names the sessions without net figures and the command that rebuilds them.
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute(
        "CREATE TABLE signal_outcomes (date DATE NOT NULL, ticker VARCHAR NOT NULL, sig VARCHAR NOT NULL, "
        "sc DOUBLE, ret_next_oc DOUBLE, ret_next_cc DOUBLE, ret_5d DOUBLE, PRIMARY KEY (date, ticker))"
    )
    con.execute("INSERT INTO signal_outcomes VALUES ('2026-02-02', 'AAA', 'BUY', 0.7, 1.0, 2.0, NULL)")
    rep = outcome_report.rolling_report(con, days=5)
    assert rep["status"] == "OK"
    buy = next(e for e in rep["signals"] if e["signal"] == "BUY")
    assert buy["horizons"]["ret_next_oc"]["gross"]["count"] == 1
    assert buy["horizons"]["ret_next_oc"]["net"]["count"] == 0
    assert rep["unpriced"] is not None
    assert "1 session(s) in 2026-02-02..2026-02-02" in rep["unpriced"]
    assert "--date 2026-02-02 --to 2026-02-02 --layers outcomes" in rep["unpriced"]


def _outcome_state(lake: Lake, con: duckdb.DuckDBPyConnection, days: list[date]) -> tuple[Any, ...]:
    rows = con.execute("SELECT * FROM signal_outcomes ORDER BY date, ticker").fetchall()
    files = {
        d: lake.read_bytes(keys.signal_outcomes_key(d))
        for d in days
        if lake.exists(keys.signal_outcomes_key(d))
    }
    return rows, files


def test_a_batch_of_dates_is_each_date_built_alone(world: tuple[Lake, duckdb.DuckDBPyConnection]) -> None:
    """`build_outcomes_many` (the asset's backfill: one sessions query, one transaction) gives the
    rows, files and facts that building each date alone gives, the horizon's edge included: a
    session 45 days after D counts for D, one 46 days after does not (but does for D + 1)."""
    lake, con = world
    edge, beyond = (
        D1 + timedelta(days=outcomes.HORIZON_CALENDAR_DAYS),
        D2 + timedelta(days=outcomes.HORIZON_CALENDAR_DAYS),
    )
    sessions = [D1, D2, D3, date(2026, 2, 5), date(2026, 2, 6), edge, beyond]
    write_candles(lake, "XXX", [candle(d, 0, 100 + i, 101 + i) for i, d in enumerate(sessions)])
    write_candles(lake, "YYY", [candle(d, 3, 200 + i, 199 + i) for i, d in enumerate(sessions[1:])])
    for d in sessions:
        load.consolidate(lake, con, d)
    items = [
        {"t": "XXX", "sig": "BUY", "sc": 0.7},
        {"t": "YYY", "sig": "SELL", "sc": 0.2},
        {"t": "NOC", "sig": "NEUTRAL", "sc": 0.5},
    ]
    for d in (D1, D2):
        write_summary_items(lake, d, items)
    days = [D1, D2, D3]  # D3 has no summary: no file, no rows
    alone = [outcomes.build_outcomes(lake, con, d).as_metadata() for d in days]
    want = _outcome_state(lake, con, days)
    assert [r["with_next"] for r in alone] == [1, 2, 0] and set(want[1]) == {D1, D2}
    # the fifth later session: `edge` for D1 (45 days on; XXX), `beyond` for D2 (XXX and YYY)
    assert [r["with_5d"] for r in alone] == [1, 2, 0]
    con.execute("DELETE FROM signal_outcomes")
    for d in days:
        if lake.exists(keys.signal_outcomes_key(d)):
            lake.delete(keys.signal_outcomes_key(d))
    batch = [r.as_metadata() for r in outcomes.build_outcomes_many(lake, con, reversed(days))]
    assert _outcome_state(lake, con, days) == want
    assert [{**r, "seconds": 0} for r in batch] == [{**r, "seconds": 0} for r in alone]
    assert [r.file_written for r in outcomes.build_outcomes_many(lake, con, days)] == [False, False, False]
