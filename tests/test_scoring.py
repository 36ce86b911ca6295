"""Golden tests for SPEC §9: every number below is worked by hand from the formulas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.layers.summary.context import CtxRow
from orderflow_pipeline.layers.summary.scoring import (
    Aggregates,
    divergence,
    fluct,
    formula_a,
    formula_b,
    normalize,
    round_js,
    score_items,
    signals,
)
from orderflow_pipeline.warehouse import queries


def signal(score: float, dp: float, pp: float, z: float | None = None, state: str | None = None) -> str:
    """One ticker through `scoring.signals` (the vectorised table); context present when z is given."""
    if z is None:
        return str(signals(score, dp, pp, 0.0, None, False)[0])
    return str(signals(score, dp, pp, z, state, True)[0])


def test_normalize_clamps() -> None:
    # (clamp(v,a,b) − a)/(b − a): 10 in [−100,100] -> 110/200 = 0.55; beyond the ends -> 0 / 1
    assert normalize(10, -100, 100) == 0.55
    assert normalize(-250, -100, 100) == 0.0
    assert normalize(250, -100, 100) == 1.0
    assert list(normalize(np.array([-3.0, 0.0, 3.0]), -3, 3)) == [0.0, 0.5, 1.0]


def test_spec_section9_worked_example() -> None:
    # deltaPct 10, pricePct 0.5, no context (z = 0):
    # 0.3·normalize(0,−3,3) + 0.7·normalize(10,−100,100) = 0.3·0.5 + 0.7·0.55 = 0.535;
    # −1 ≤ 0.5 ≤ 2 -> ×1.1 = 0.5885000000000001 (binary) -> sc 0.589
    sc = formula_a(10, 0.5, 0)
    assert sc == 0.5885000000000001
    assert round_js(sc, 3) == 0.589
    # div = |10| / (1 + |0.5|) = 6.666… -> 6.67
    assert round_js(divergence(10, 0.5), 2) == 6.67
    # 0.4 ≤ 0.5885 ≤ 0.6 and no context: no rule holds
    assert signal(sc, 10, 0.5) == "NEUTRAL"


def test_spec_section10_worked_item() -> None:
    # f = 100/9100·100 = 1.0989 -> 1.1
    assert round_js(fluct(9200, 9100), 2) == 1.1
    # div = 15.2 / (1 + 1.3) = 6.6087 -> 6.61
    assert round_js(divergence(15.2, 1.3), 2) == 6.61
    # sc = (0.3·normalize(1.2,−3,3) + 0.7·normalize(15.2,−100,100))·1.1 = (0.3·0.7 + 0.7·0.576)·1.1
    #    = (0.21 + 0.4032)·1.1 = 0.67452 -> 0.675
    sc = formula_a(15.2, 1.3, 1.2)
    assert sc == pytest.approx(0.67452, abs=1e-12)
    assert round_js(sc, 3) == 0.675
    # rule 1 fails (0.675 ≤ 0.7); rule 2 fails (d ≤ 80); rule 3: d 15.2 < 40, z 1.2 > 0.7, ACCUMULATION
    assert signal(sc, 15.2, 1.3, 1.2, "ACCUMULATION") == "HIDDEN_ACCUM"


def test_formula_a_multipliers_and_cap() -> None:
    # dp 100, z 3, pp 0: 0.3·1 + 0.7·1 = 1.0, ×1.1 = 1.1 -> min(1, ·) = 1.0
    assert formula_a(100, 0, 3) == 1.0
    # dp 0, z 0, pp −4.5: 0.15 + 0.35 = 0.5, pp < −4 -> ×0.5 = 0.25
    assert formula_a(0, -4.5, 0) == 0.25
    # pp exactly −4: no halving -> 0.5; pp 3 (outside [−1, 2]): no ×1.1 -> 0.5
    assert formula_a(0, -4, 0) == 0.5
    assert formula_a(0, 3, 0) == 0.5


# -- pricePct boundaries, no context, through formula A ----------------------------------------------


def test_price_minus5_boundary() -> None:
    # pp exactly −5: rule 0 needs pp < −5. dp 100: (0.15 + 0.7)·0.5 = 0.425 -> 0.4 ≤ 0.425 ≤ 0.6: NEUTRAL
    assert formula_a(100, -5, 0) == pytest.approx(0.425)
    assert signal(formula_a(100, -5, 0), 100, -5) == "NEUTRAL"
    # a hair below −5: SELL by rule 0, whatever the score
    assert signal(formula_a(100, -5.0001, 0), 100, -5.0001) == "SELL"


def test_price_minus4_boundary() -> None:
    # dp 0, z 0: base 0.5. pp −4: no halving -> 0.5 NEUTRAL; pp −4.0001: ×0.5 = 0.25 < 0.4 -> SELL (rule 7)
    assert signal(formula_a(0, -4, 0), 0, -4) == "NEUTRAL"
    assert formula_a(0, -4.0001, 0) == 0.25
    assert signal(formula_a(0, -4.0001, 0), 0, -4.0001) == "SELL"


@pytest.mark.parametrize("pp,expected", [(-1, "BUY"), (-1.0001, "NEUTRAL"), (2, "BUY"), (2.0001, "NEUTRAL")])
def test_price_bonus_window_boundaries(pp: float, expected: str) -> None:
    # dp 20, z 0: 0.15 + 0.7·0.6 = 0.57. Inside −1 ≤ pp ≤ 2: ×1.1 = 0.627 > 0.6 and pp ≥ −3 -> BUY
    # (not WATCH_ACCUM: normalize(20) = 0.6 ≤ 0.8); outside: 0.57 -> NEUTRAL.
    sc = formula_a(20, pp, 0)
    assert sc == pytest.approx(0.627 if expected == "BUY" else 0.57)
    assert signal(sc, 20, pp) == expected


@pytest.mark.parametrize("pp,expected", [(-2, "STRONG_BUY"), (-2.0001, "BUY")])
def test_price_minus2_boundary_strong_buy(pp: float, expected: str) -> None:
    # ACCUMULATION, z 3, dp 50, pp −2: 0.3·1 + 0.7·0.75 = 0.825 (no multiplier) > 0.7 and pp ≥ −2
    # -> STRONG_BUY; just below −2 rule 1 fails, rule 3 fails (dp ≥ 40), BUY (0.825 > 0.6, pp ≥ −3)
    sc = formula_a(50, pp, 3)
    assert sc == pytest.approx(0.825)
    assert signal(sc, 50, pp, 3, "ACCUMULATION") == expected


@pytest.mark.parametrize("pp,expected", [(-3, "BUY"), (-3.0001, "NEUTRAL")])
def test_price_minus3_boundary_buy(pp: float, expected: str) -> None:
    # no context, dp 50: 0.15 + 0.525 = 0.675 > 0.6 -> BUY while pp ≥ −3 (normalize(50) = 0.75 ≤ 0.8,
    # so not WATCH_ACCUM); below −3 nothing but NEUTRAL (0.675 ≥ 0.4)
    sc = formula_a(50, pp, 0)
    assert sc == pytest.approx(0.675)
    assert signal(sc, 50, pp) == expected


# -- score boundaries (the score is the rule's input: exact values passed straight in) ---------------


def test_score_0_7_boundary() -> None:
    # ACCUMULATION, dp 50, pp 0, z 0.6: rule 1 needs score > 0.7; rule 3 off (dp ≥ 40, z ≤ 0.7)
    assert signal(0.7, 50, 0, 0.6, "ACCUMULATION") == "BUY"
    assert signal(0.7000001, 50, 0, 0.6, "ACCUMULATION") == "STRONG_BUY"


def test_score_0_6_boundary_watch_and_buy() -> None:
    # no context, dp 90 (normalize 0.95 > 0.8), pp 0: WATCH_ACCUM needs score > 0.6
    assert signal(0.6, 90, 0) == "NEUTRAL"
    assert signal(0.6000001, 90, 0) == "WATCH_ACCUM"
    # with context WATCH_ACCUM cannot fire: the same numbers are a BUY
    assert signal(0.6000001, 90, 0, 0.0, "NEUTRAL") == "BUY"
    assert signal(0.6, 90, 0, 0.0, "NEUTRAL") == "NEUTRAL"
    # WATCH_ACCUM boundary on flow: normalize(60) = 0.8 is not > 0.8 -> BUY instead
    assert signal(0.65, 60, 0) == "BUY"
    assert signal(0.65, 60.01, 0) == "WATCH_ACCUM"


def test_score_0_4_boundary() -> None:
    assert signal(0.4, 0, 0) == "NEUTRAL"
    assert signal(0.3999999, 0, 0) == "SELL"


def test_score_0_3_boundary_strong_sell() -> None:
    # DISTRIBUTION, z −0.4 (rule 2 off): rule 4 needs score < 0.3; at 0.3 it falls to rule 7 SELL
    assert signal(0.3, -50, 0, -0.4, "DISTRIBUTION") == "SELL"
    assert signal(0.2999999, -50, 0, -0.4, "DISTRIBUTION") == "STRONG_SELL"
    # without context STRONG_SELL never fires
    assert signal(0.2999999, -50, 0) == "SELL"


def test_trap_warning() -> None:
    # dp 80.01 > 80, z −0.51 < −0.5 (context NEUTRAL), pp 0:
    # sc = (0.3·normalize(−0.51) + 0.7·0.90005)·1.1 = (0.3·0.415 + 0.630035)·1.1 = 0.8299885 -> BUY
    # would follow, but rule 2 comes first -> TRAP_WARNING
    sc = formula_a(80.01, 0, -0.51)
    assert sc == pytest.approx(0.8299885)
    assert signal(sc, 80.01, 0, -0.51, "NEUTRAL") == "TRAP_WARNING"
    assert signal(sc, 80, 0, -0.51, "NEUTRAL") == "BUY"  # dp exactly 80: rule 2 off
    assert signal(sc, 80.01, 0, -0.5, "NEUTRAL") == "BUY"  # z exactly −0.5: rule 2 off
    assert signal(sc, 80.01, 0) == "WATCH_ACCUM"  # no context: rule 2 off, rule 5 on


def test_hidden_accum_boundaries() -> None:
    # dp 39.99 < 40, z 0.71 > 0.7, ACCUMULATION: sc = (0.3·0.6183 + 0.7·0.69995)·1.1 = 0.7430 > 0.7
    # but rule 1 comes first -> with pp 0 it is STRONG_BUY; at pp −2.5 rule 1 fails (pp < −2) ->
    # HIDDEN_ACCUM (sc without ×1.1 = 0.67547)
    assert signal(formula_a(39.99, -2.5, 0.71), 39.99, -2.5, 0.71, "ACCUMULATION") == "HIDDEN_ACCUM"
    assert signal(formula_a(39.99, 0, 0.71), 39.99, 0, 0.71, "ACCUMULATION") == "STRONG_BUY"
    assert signal(0.5, 40, 0, 0.71, "ACCUMULATION") == "NEUTRAL"  # dp exactly 40
    assert signal(0.5, 39.99, 0, 0.7, "ACCUMULATION") == "NEUTRAL"  # z exactly 0.7
    assert signal(0.5, 39.99, 0, 0.71, "NEUTRAL") == "NEUTRAL"  # not ACCUMULATION


def test_sell_rule0_beats_everything() -> None:
    assert signal(0.95, 99, -5.01, 3.0, "ACCUMULATION") == "SELL"


def test_no_context_disables_rules_1_to_4_in_vector_form() -> None:
    # has_ctx False with stray z/state must not fire HIDDEN_ACCUM / STRONG_BUY
    out = signals(
        [0.8, 0.2], [10, -50], [0, 0], [1.0, -1.0], ["ACCUMULATION", "DISTRIBUTION"], [False, False]
    )
    assert list(out) == ["BUY", "SELL"]


def test_every_signal_reachable() -> None:
    got = {
        signal(0.5, 0, -6),
        signal(0.8, 50, 0, 1.0, "ACCUMULATION"),
        signal(0.8, 90, 0, -1.0, "NEUTRAL"),
        signal(0.6, 10, -2.5, 1.0, "ACCUMULATION"),
        signal(0.2, -50, 0, -0.4, "DISTRIBUTION"),
        signal(0.8, 90, 0),
        signal(0.7, 10, 0),
        signal(0.3, 0, 0),
        signal(0.5, 0, 0),
    }
    assert got == scoring.SIGNALS


# -- formula B -------------------------------------------------------------------------------------


def test_formula_b_state_adjustments() -> None:
    # dp 10, pp 1: rt = 0.7·normalize(10,−25,25) + 0.3·normalize(1,−5,5) = 0.7·0.7 + 0.3·0.6 = 0.67
    # z 1: normalize = 4/6 = 0.6667
    #   ACCUMULATION: h = 0.7667 -> 0.7·0.67 + 0.3·0.7667 = 0.469 + 0.23   = 0.699
    #   NEUTRAL:      h = 0.6667 -> 0.469 + 0.2                        = 0.669
    #   DISTRIBUTION: h = 0.5667 -> 0.469 + 0.17                       = 0.639
    assert formula_b(10, 1, 1.0, "ACCUMULATION") == pytest.approx(0.699)
    assert formula_b(10, 1, 1.0, "NEUTRAL") == pytest.approx(0.669)
    assert formula_b(10, 1, 1.0, "DISTRIBUTION") == pytest.approx(0.639)
    # no context: z 0, no state -> h 0.5 -> 0.469 + 0.15 = 0.619
    assert formula_b(10, 1, 0.0, None) == pytest.approx(0.619)


def test_formula_b_clamping() -> None:
    # z 3 ACCUMULATION: h = 1 + 0.1 clamped to 1; dp 40 -> normalize 1, pp 9 -> 1: rt 1 -> 0.7 + 0.3 = 1.0
    assert formula_b(40, 9, 3.0, "ACCUMULATION") == pytest.approx(1.0)
    # z −3 DISTRIBUTION: h = 0 − 0.1 clamped to 0; dp −40, pp −9: rt 0 -> 0.0
    assert formula_b(-40, -9, -3.0, "DISTRIBUTION") == 0.0
    # vector form agrees element-wise
    v = formula_b(
        np.array([40.0, -40.0, 10.0]),
        np.array([9.0, -9.0, 1.0]),
        np.array([3.0, -3.0, 1.0]),
        np.array(["ACCUMULATION", "DISTRIBUTION", "DISTRIBUTION"], dtype=object),
    )
    assert v == pytest.approx([1.0, 0.0, 0.639])


# -- rounding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x,dp,expected",
    [
        (0.125, 2, 0.13),  # exact binary tie -> away from zero
        (-0.125, 2, -0.13),
        (0.0625, 3, 0.063),
        (2.675, 2, 2.67),  # binary 2.67499999… -> below the tie, as JS toFixed
        (1.005, 2, 1.0),  # binary 1.00499999…
        (0.5885000000000001, 3, 0.589),
        (-0.001, 2, 0.0),  # never -0.0 in JSON
    ],
)
def test_round_js(x: float, dp: int, expected: float) -> None:
    got = round_js(x, dp)
    assert got == expected
    assert str(got) != "-0.0"


# -- aggregation, velocity, items ---------------------------------------------------------------------


def _aggs(rows: dict[str, tuple[int, int, int, int, int, int]]) -> Aggregates:
    """Aggregates of tickers given as (open, high, low, close, vol, delta), no velocity window."""
    names = sorted(rows)
    cols: dict[str, list[object]] = {"ticker": list(names)}
    for i, k in enumerate(("open", "high", "low", "close", "vol", "delta")):
        cols[k] = [rows[t][i] for t in names]
    cols["vol_w"] = cols["delta_w"] = [0] * len(names)
    cols["val"] = [rows[t][3] * rows[t][4] * 100 for t in names]  # close × lots × 100
    return Aggregates.from_columns(cols)


def _candle_table(rows: list[tuple[str, int, int, int, int, int, int, int]]) -> pa.Table:
    """Validated-candle columns (ticker, time_key, o, h, l, c, vol, delta) plus load order `seq`."""
    names = ("ticker", "time_key", "open", "high", "low", "close", "vol", "delta")
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    return pa.table({**cols, "seq": list(range(len(rows)))})


def test_aggregate_and_velocity_window() -> None:
    """The §9 fold as the summary runs it (queries.aggregate_candle_table: the one SQL)."""
    m = 60_000
    base = 1_770_346_800_000
    # given out of order: open/close follow t0, not row order
    rows = [
        ("AAA", base + 70 * m, 105, 110, 104, 108, 50, -10),
        ("AAA", base, 100, 102, 99, 101, 100, 40),
        ("AAA", base + 10 * m, 101, 106, 100, 105, 30, 30),
    ]
    agg = queries.aggregate_candle_table(_candle_table(rows))
    # open = o at base = 100, close = c at base+70m = 108, high 110, low 99, vol 180, delta 60;
    # cutoff = base+70m; window t0 > base+10m: only the last candle (t0 = base+10m is NOT inside)
    got = {k: getattr(agg, k).tolist() for k in scoring.AGGREGATE_COLUMNS}
    assert got == {
        "ticker": ["AAA"],
        "open": [100],
        "high": [110],
        "low": [99],
        "close": [108],
        "vol": [180],
        "delta": [60],
        "vol_w": [50],
        "delta_w": [-10],
        # Σ minute vol × close × 100 = (100·101 + 30·105 + 50·108)·100 = (10100+3150+5400)·100
        "val": [1_865_000],
    }
    # vel = −10/50·100 = −20; deltaPct = 60/180·100 = 33.33; vel_accel = −53.33
    (item,) = score_items(agg, {})
    assert item["vel"] == -20.0 and item["d"] == 33.33 and item["vel_accel"] == -53.33
    # The cut-off is the newest t0 of ANY ticker: ZZZ trades at base+200m, so AAA has no volume in
    # (base+140m, base+200m] -> vel 0, vel_accel = 0 − 33.33
    agg2 = queries.aggregate_candle_table(
        _candle_table([*rows, ("ZZZ", base + 200 * m, 50, 50, 50, 50, 10, 10)])
    )
    assert (agg2.vol_w.tolist(), agg2.delta_w.tolist()) == ([0, 10], [0, 10])
    item_a = next(i for i in score_items(agg2, {}) if i["t"] == "AAA")
    assert item_a["vel"] == 0.0 and item_a["vel_accel"] == -33.33


def test_duplicate_minute_the_later_line_wins() -> None:
    # Two lines for one t0 (§6): the later one (higher seq) is the candle; vol 7 not 5 + 7.
    base = 1_770_346_800_000
    agg = queries.aggregate_candle_table(
        _candle_table([("AAA", base, 10, 12, 9, 11, 5, 1), ("AAA", base, 10, 13, 9, 12, 7, -3)])
    )
    assert (agg.vol.tolist(), agg.delta.tolist(), agg.high.tolist(), agg.close.tolist()) == (
        [7],
        [-3],
        [13],
        [12],
    )


def test_zero_volume_delta_pct_is_zero() -> None:
    (item,) = score_items(_aggs({"ZZZ": (100, 100, 100, 100, 0, 0)}), {})
    # dp 0, pp 0 -> (0.15 + 0.35)·1.1 = 0.55, NEUTRAL
    assert item["d"] == 0.0 and item["sc"] == 0.55 and item["sig"] == "NEUTRAL"


def test_score_items_order_context_and_shape() -> None:
    aggs = {
        # dp 10, pp 0.5 -> 0.589 (no context)
        "BBB": (1000, 1010, 995, 1005, 1000, 100),
        # same numbers, another ticker: tie on sc -> ordered by t
        "AAA": (1000, 1010, 995, 1005, 1000, 100),
        # dp 10, pp 0.5, z 1.2 ACCUMULATION -> (0.21 + 0.385)·1.1 = 0.6545, in binary
        # 0.65449999999999997… -> sc 0.654 (below the tie, like toFixed); HIDDEN_ACCUM
        "CCC": (1000, 1010, 995, 1005, 1000, 100),
    }
    items = score_items(_aggs(aggs), {"CCC": CtxRow(1.2, "ACCUMULATION")})
    assert [i["t"] for i in items] == ["CCC", "AAA", "BBB"]
    assert list(items[0]) == [
        "t",
        "d",
        "p",
        "v",
        "h",
        "l",
        "r",
        "f",
        "div",
        "ctx_net",
        "ctx_st",
        "sc",
        "sig",
        "vel",
        "vel_accel",
        "val",
        "ins",
    ]
    assert items[0]["sc"] == 0.654 and items[0]["sig"] == "HIDDEN_ACCUM"
    # one 1,000-lot "minute" closing at 1005: 1005 × 1000 × 100 = Rp 100,500,000; CCC (3 letters) is no share code
    assert (items[0]["val"], items[0]["ins"]) == (100_500_000, "other")
    assert items[0]["ctx_net"] == 1.2 and items[0]["ctx_st"] == "ACCUMULATION"
    assert items[1]["ctx_net"] is None and items[1]["ctx_st"] is None
    assert items[1]["sc"] == 0.589 and items[1]["sig"] == "NEUTRAL"
    # r = 1010 − 995 = 15; f = 15/995·100 = 1.5075 -> 1.51; div = 10/1.5 = 6.67
    assert (items[1]["r"], items[1]["f"], items[1]["div"]) == (15, 1.51, 6.67)
    assert all(isinstance(items[1][k], int) for k in ("v", "h", "l", "r"))


def test_vector_equals_scalar() -> None:
    rng = np.random.default_rng(3)
    dp = rng.uniform(-120, 120, 500)
    pp = rng.uniform(-8, 8, 500)
    z = rng.uniform(-4, 4, 500)
    va = formula_a(dp, pp, z)
    assert all(va[i] == formula_a(float(dp[i]), float(pp[i]), float(z[i])) for i in range(500))
    st = rng.choice(np.array(["ACCUMULATION", "DISTRIBUTION", "NEUTRAL"], dtype=object), 500)
    vb = formula_b(dp, pp, z, st)
    assert all(vb[i] == formula_b(float(dp[i]), float(pp[i]), float(z[i]), st[i]) for i in range(500))
    vs = signals(va, dp, pp, z, st, np.ones(500, dtype=bool))
    assert all(vs[i] == signal(va[i], dp[i], pp[i], z[i], st[i]) for i in range(500))


def test_order_uses_unrounded_score() -> None:
    # AAA: dp 10.000, pp 0.5 -> 0.5885;  BBB: dp 10.001 -> (0.15 + 0.7·0.550005)·1.1 = 0.58850385.
    # Both publish sc 0.589, but BBB's unrounded score is higher, so it comes first despite its name.
    aggs = {
        "AAA": (1000, 1005, 1000, 1005, 100_000, 10_000),
        "BBB": (1000, 1005, 1000, 1005, 100_000, 10_001),
    }
    items = score_items(_aggs(aggs), {})
    assert [i["t"] for i in items] == ["BBB", "AAA"]
    assert [i["sc"] for i in items] == [0.589, 0.589]
