"""Issue 27's hand-worked figures: costs with half a tick of spread across tick bands, the
auto-rejection entry flags (one ARA, one ARB), Benjamini–Hochberg on a small set of p values,
the Student-t p against scipy (a test-only dependency, so the core computes it itself), and the
report that puts them together (left-out entries, halves, t > 3 criterion)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from scipy import stats as sps

from orderflow_pipeline import bounds
from orderflow_pipeline.layers import outcome_report, outcomes
from orderflow_pipeline.layers import outcome_stats as st
from orderflow_pipeline.layers.outcome_report import ReportRow
from orderflow_pipeline.layers.summary import scoring

COSTS = st.Costs(buy_fee_pct=0.15, sell_fee_pct=0.25)  # the defaults, spelled out


def test_costs_and_half_tick_spread_on_three_trades_across_tick_bands() -> None:
    # Trade 1, long, 150 -> 160 (tick 1 below Rp200: half a tick = 0.5):
    #   cost     = (150 + 0.5) × 1.0015 = 150.72575
    #   proceeds = (160 − 0.5) × 0.9975 = 159.10125
    #   net      = (159.10125 − 150.72575) / 150.72575 × 100 = 5.556781…%   (gross 6.6667%)
    assert st.net_return(150, 160, "long", COSTS) == pytest.approx(8.3755 / 150.72575 * 100, rel=1e-12)
    assert st.net_return(150, 160, "long", COSTS) == pytest.approx(5.556781107, abs=1e-9)
    # Trade 2, long, 1,000 -> 990 (tick 5 in Rp500–2,000: half a tick = 2.5):
    #   cost     = 1,002.5 × 1.0015 = 1,004.00375;  proceeds = 987.5 × 0.9975 = 985.03125
    #   net      = (985.03125 − 1,004.00375) / 1,004.00375 × 100 = −1.889684…%  (gross −1%)
    assert st.net_return(1000, 990, "long", COSTS) == pytest.approx(-18.9725 / 1004.00375 * 100, rel=1e-12)
    # Trade 3, a sell signal (short), 4,990 -> 5,100: the exit crosses into the Rp5,000+ band,
    # tick 10 at the entry (half: 5), tick 25 at the exit (half: 12.5):
    #   proceeds = (4,990 − 5) × 0.9975 = 4,972.5375;  buyback = (5,100 + 12.5) × 1.0015 = 5,120.16875
    #   net      = (5,120.16875 − 4,972.5375) / 4,972.5375 × 100 = +2.968932…% (the price rose 2.2044%:
    #   signed as the price move, a sell signal's loss is a positive figure, made worse by costs)
    assert st.net_return(4990, 5100, "short", COSTS) == pytest.approx(147.63125 / 4972.5375 * 100, rel=1e-12)
    assert st.net_return(4990, 5100, "short", COSTS) == pytest.approx(2.968931858, abs=1e-9)
    # no fee and no spread: the net figure is the gross one, on both sides
    free = st.Costs(0.0, 0.0, 0.0)
    assert st.net_return(1000, 990, "long", free) == pytest.approx(-1.0, rel=1e-12)
    assert st.net_return(4990, 5100, "short", free) == pytest.approx(110 / 4990 * 100, rel=1e-12)
    assert st.net_return(None, 990, "long", COSTS) is None


def test_tick_table_is_the_one_in_bounds() -> None:
    assert [bounds.tick_size(p) for p in (199, 200, 499, 500, 1999, 2000, 4999, 5000)] == [
        1, 2, 2, 5, 5, 10, 10, 25,
    ]  # fmt: skip
    from orderflow_pipeline.read import profile
    from orderflow_pipeline.simulator import grid

    assert profile.tick_size is bounds.tick_size
    assert grid.tick_size(np.array([199, 200, 5000])).tolist() == [1, 2, 25]


def test_one_ara_and_one_arb_entry() -> None:
    # ARA: previous close 1,000 (25 % tier): 1,000 × 1.25 = 1,250, on the 5-IDR grid = 1,250.
    # ARB: previous close 300: 300 × 0.85 = 255, rounded up to the 2-IDR grid of Rp200–500 = 256
    # (its ARA, 300 × 1.25 = 375, rounds down to 374 on that grid).
    assert bounds.limit_prices(1000) == (850, 1250) and bounds.limit_prices(300) == (256, 374)
    assert bounds.limit_at(1000, 1250) == "ARA" and bounds.limit_at(1000, 1245) is None
    assert bounds.limit_at(300, 256) == "ARB" and bounds.limit_at(300, 258) is None
    assert bounds.limit_at(None, 256) is None
    d = date(2026, 2, 2)
    days = [d, date(2026, 2, 3)]
    # the next session's open at the limit: lim_next (the entry of ret_next_oc)
    rows = outcomes.compute_outcomes(
        d,
        [{"t": "AAAA", "sig": "BUY", "sc": 0.7}, {"t": "BBBB", "sig": "SELL", "sc": 0.2}],
        {
            "AAAA": [(days[0], 990, 1000), (days[1], 1250, 1250)],
            "BBBB": [(days[0], 310, 300), (days[1], 256, 256)],
        },
    )
    assert [(r["t"], r["lim_next"]) for r in rows] == [("AAAA", "ARA"), ("BBBB", "ARB")]
    # the summary item's own close at the limit: lim (the entry of ret_next_cc and ret_5d)
    agg = scoring.Aggregates.from_columns(
        {"ticker": ["AAAA", "BBBB", "CCCC"], "open": [1000, 300, 500], "high": [1250, 300, 500],
         "low": [1000, 256, 500], "close": [1250, 256, 500], "vol": [10, 10, 10], "delta": [10, -10, 0],
         "vol_w": [10, 10, 10], "delta_w": [10, -10, 0], "val": [1, 1, 1]}
    )  # fmt: skip
    items = scoring.score_items(agg, {}, prev_close={"AAAA": 1000, "BBBB": 300})
    assert {i["t"]: i["lim"] for i in items} == {"AAAA": "ARA", "BBBB": "ARB", "CCCC": None}
    # which limit blocks whom: a buy at ARA, a sell at ARB; not the other way round
    assert outcomes.blocked("BUY", "ARA") and outcomes.blocked("NEUTRAL", "ARA")
    assert outcomes.blocked("SELL", "ARB") and not outcomes.blocked("SELL", "ARA")
    assert not outcomes.blocked("BUY", "ARB") and not outcomes.blocked("BUY", None)


def test_benjamini_hochberg_worked_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005, None, 0.045]
    # m = 5 (None is no test). Ascending: 0.005 (rank 1), 0.01 (2), 0.03 (3), 0.04 (4), 0.045 (5);
    # p·m/rank = 0.025, 0.025, 0.05, 0.05, 0.045. Made monotone from the largest rank down
    # (running minimum): 0.045, min(0.045, 0.05) = 0.045, min(0.045, 0.05) = 0.045, 0.025, 0.025.
    # Back in the input order:
    assert st.bh_adjust(p) == pytest.approx([0.025, 0.045, 0.045, 0.025, None, 0.045])
    known = [x for x in p if x is not None]
    assert [x for x in st.bh_adjust(p) if x is not None] == pytest.approx(
        sps.false_discovery_control(known, method="bh").tolist()
    )
    assert st.bh_adjust([0.9, 0.8]) == [0.9, 0.9]  # capped by the largest, never above 1
    assert st.bh_adjust([]) == []


@pytest.mark.parametrize(
    "t, df", [(0.0, 5), (1.0, 1), (2.0, 3), (-2.5, 10), (3.1, 29), (8.0, 200), (40.0, 7)]
)
def test_student_t_p_matches_scipy(t: float, df: int) -> None:
    assert st.t_two_sided_p(t, df) == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-9, abs=1e-300)


def test_stats_worked_by_hand_and_seeded() -> None:
    # 1, 2, 3, 4: mean 2.5, sample sd √(5/3) = 1.290994, t = 2.5 / (1.290994 / 2) = 3.872983
    s = st.stats([1.0, 2.0, 3.0, 4.0], "up")
    assert (s["count"], s["hit_rate"], s["mean"], s["median"]) == (4, 1.0, 2.5, 2.5)
    assert s["t"] == pytest.approx(2.5 / (np.sqrt(5 / 3) / 2), rel=1e-12)
    assert s["p"] == pytest.approx(sps.ttest_1samp([1, 2, 3, 4], 0).pvalue, rel=1e-9)
    assert st.stats([1.0, 2.0, 3.0, 4.0], "up") == s  # the bootstrap is seeded
    assert st.stats([2.0, 2.0], "down")["t"] is None  # no spread: no t, no p
    assert st.passes({"t": 3.2, "direction": "up"}) and not st.passes({"t": 3.2, "direction": "down"})
    assert st.passes({"t": -3.2, "direction": "down"}) and not st.passes({"t": None, "direction": "up"})


def row(
    d: date, sig: str, close_d: int, nxt: int, *, lim: str | None = None, lim_next: str | None = None
) -> ReportRow:
    """A row whose next session opens at close(D) (so oc = cc's move from the open)."""
    return ReportRow(d, "AAAA", sig, (nxt - close_d) / close_d * 100, (nxt - close_d) / close_d * 100,
                     None, close_d, close_d, nxt, None, lim, lim_next)  # fmt: skip


def test_report_leaves_blocked_entries_out_splits_halves_and_corrects_every_p() -> None:
    d1, d2, d3, d4 = (date(2026, 3, x) for x in (2, 3, 4, 5))
    rows = [
        row(d1, "BUY", 1000, 1010), row(d2, "BUY", 1000, 1020), row(d3, "BUY", 1000, 1005),
        row(d4, "BUY", 1000, 1030),
        row(d1, "BUY", 1000, 1250, lim_next="ARA"),  # opened at ARA: not an entry for ret_next_oc
        row(d2, "SELL", 300, 290, lim="ARB"),  # closed at ARB on D: no entry for cc (nor 5d)
        row(d3, "SELL", 300, 294), row(d3, "NEUTRAL", 500, 505), row(d4, "NEUTRAL", 500, 495),
    ]  # fmt: skip
    rep = outcome_report.report_from_rows(rows, sessions=[d1, d2, d3, d4], days=4, costs=COSTS)
    buy = next(s for s in rep["signals"] if s["signal"] == "BUY")["horizons"]
    assert buy["ret_next_oc"]["gross"]["count"] == 4 and buy["ret_next_oc"]["at_limit"] == 1
    assert buy["ret_next_cc"]["gross"]["count"] == 5 and buy["ret_next_cc"]["at_limit"] == 0
    sell = next(s for s in rep["signals"] if s["signal"] == "SELL")["horizons"]
    assert sell["ret_next_cc"]["gross"]["count"] == 1 and sell["ret_next_cc"]["at_limit"] == 1
    assert rep["limit"]["by_horizon"] == {"ret_next_oc": 1, "ret_next_cc": 1, "ret_5d": 0}
    # net < gross for every long: BUY's four next-day oc returns 1, 2, 0.5, 3 %, each from 1,000
    net = [st.net_return(1000, x, "long", COSTS) for x in (1010, 1020, 1005, 1030)]
    assert buy["ret_next_oc"]["net"]["mean"] == pytest.approx(float(np.mean(net)), rel=1e-12)
    assert buy["ret_next_oc"]["net"]["mean"] < buy["ret_next_oc"]["gross"]["mean"]
    # halves of the four sessions with rows: d1, d2 | d3, d4
    assert rep["halves"] == {"first": ["2026-03-02", "2026-03-03"], "second": ["2026-03-04", "2026-03-05"]}
    assert buy["ret_next_oc"]["first"]["gross"]["count"] == 2  # d1, d2 (d1's ARA entry left out)
    assert buy["ret_next_oc"]["second"]["gross"]["count"] == 2
    # one BH pass over every p of the report: collect them all back and redo it
    figures = []
    for line in [rep["baseline"], *rep["families"], *rep["signals"]]:
        for fig in line["horizons"].values():
            figures += [
                fig["gross"],
                fig["net"],
                *(fig[h][k] for h in ("first", "second") for k in ("gross", "net")),
            ]
    ps = [f["p"] for f in figures]
    assert rep["tests"] == sum(p is not None for p in ps) > 0
    assert sorted(f["p_bh"] for f in figures if f["p"] is not None) == pytest.approx(
        sorted(x for x in st.bh_adjust(ps) if x is not None)
    )
    # nobody has t > 3 net of costs on 4 values: said in words
    assert rep["passing"] == [] and rep["verdict"].startswith("no signal × horizon passes t > 3 net of costs")


def test_a_strong_signal_passes_and_is_named() -> None:
    d = date(2026, 3, 2)
    rises = [1020, 1030, 1025, 1035, 1030, 1040, 1025, 1030]  # +2..+4 % each: t far above 3 net
    rep = outcome_report.report_from_rows(
        [row(d, "STRONG_BUY", 1000, x) for x in rises], sessions=[d], days=1, costs=COSTS
    )
    names = {(p["signal"], p["horizon"]) for p in rep["passing"]}
    assert {("STRONG_BUY", "ret_next_cc"), ("BUY_FAMILY", "ret_next_cc")} <= names
    assert "STRONG_BUY ret_next_cc" in rep["verdict"]


def test_bootstrap_in_blocks_is_seeded_and_covers_the_mean() -> None:
    rng = np.random.default_rng(5)
    big = rng.normal(0.1, 2.0, 30_000).tolist()  # 2,000 × 30,000 indices: drawn in 34 blocks
    lo, hi = st.bootstrap_ci(big)  # type: ignore[misc]
    m, se = float(np.mean(big)), float(np.std(big, ddof=1)) / np.sqrt(len(big))
    # the percentile interval of a mean of 30,000 values is ±1.96 standard errors, to a few %
    assert lo == pytest.approx(m - 1.96 * se, abs=0.15 * se) and hi == pytest.approx(
        m + 1.96 * se, abs=0.15 * se
    )
    assert st.bootstrap_ci(big) == (lo, hi) and st.bootstrap_ci(big, seed=22) != (lo, hi)
    assert st.bootstrap_ci([1.0]) is None
