"""Market regimes planted per ticker-day, and the daily plan that chains closes through a range.

Why planted regimes: the scoring layer's signals (accumulation, distribution, trap, markup,
falling knife) can only be tested if the data is known to hold them. `planted_regimes` gives the
tests the truth for every (date, ticker) of a `simulate_range` with the same arguments.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator.grid import reject_bounds, snap_grid
from orderflow_pipeline.simulator.universe import load_universe

NEUTRAL = "neutral"
ACCUMULATION = "accumulation"
DISTRIBUTION = "distribution"
TRAP = "trap"  # distribution's broker flow under a buy-heavy tape (TRAP_WARNING)
MARKUP = "markup"
FALLING_KNIFE = "falling_knife"
ILLIQUID = "illiquid"
REGIMES: tuple[str, ...] = (NEUTRAL, ACCUMULATION, DISTRIBUTION, TRAP, MARKUP, FALLING_KNIFE, ILLIQUID)
_R = {name: i for i, name in enumerate(REGIMES)}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RegimeParams:
    """Day-level knobs of one regime (drawn per ticker-day from these ranges)."""

    p_buy: tuple[float, float]  # buyer-initiated probability per continuous trade (uniform range)
    ret: tuple[float, float] | None  # open->close return range; None = random walk with the ticker's sigma
    activity: float  # multiplier of the ticker's usual number of trades
    tilt: float  # foreign buy share minus foreign sell share (-> ngr ≈ tilt)


PARAMS: dict[str, RegimeParams] = {
    NEUTRAL: RegimeParams((0.46, 0.54), None, 1.0, 0.0),
    ACCUMULATION: RegimeParams((0.60, 0.75), (-0.004, 0.012), 1.3, 0.30),
    DISTRIBUTION: RegimeParams((0.26, 0.42), (0.0, 0.012), 1.3, -0.30),
    TRAP: RegimeParams((0.99, 0.997), (0.0, 0.015), 1.5, -0.30),
    MARKUP: RegimeParams((0.80, 0.88), (0.03, 0.08), 1.6, 0.08),
    FALLING_KNIFE: RegimeParams((0.22, 0.30), (-0.12, -0.065), 2.0, -0.10),
    ILLIQUID: RegimeParams((0.40, 0.60), None, 1.0, 0.0),
}

# Share of liquid tickers that get each planted regime in the last third of the range.
_PLANT_SHARE = (
    (ACCUMULATION, 0.14),
    (DISTRIBUTION, 0.10),
    (TRAP, 0.04),
    (MARKUP, 0.10),
    (FALLING_KNIFE, 0.06),
)
_EARLY_MARKUP_P = 0.01  # ordinary history: an occasional markup day before the last third
_ILLIQUID_NO_TRADE_P = 0.3


def crc(s: str) -> int:
    """A stable per-name seed component (Python's hash() is salted per process)."""
    return zlib.crc32(s.encode())


def _assign_regimes(days: list[date], uni: pd.DataFrame, seed: int) -> npt.NDArray[np.int8]:
    """Regime index per (day, ticker): ordinary history first, planted episodes in the last third."""
    n, m = len(days), len(uni)
    out = np.full((n, m), _R[NEUTRAL], dtype=np.int8)
    if n == 0 or m == 0:
        return out
    illiquid = uni["illiquid"].to_numpy()
    out[:, illiquid] = _R[ILLIQUID]
    rng = np.random.default_rng([seed, 0x5E91, days[0].toordinal(), n, m])
    i0 = n - max(1, round(n / 3))
    span = n - i0
    liquid = np.flatnonzero(~illiquid)
    order = rng.permutation(liquid)
    pos = 0
    for name, share in _PLANT_SHARE:
        k = max(1, math.ceil(share * len(liquid))) if len(liquid) >= 10 else int(share * len(liquid))
        for j in order[pos : pos + k]:
            if name in (ACCUMULATION, DISTRIBUTION, TRAP):
                length = min(int(rng.integers(4, 7)), span)
            elif name == MARKUP:
                length = min(int(rng.integers(1, 4)), span)
            else:
                length = min(int(rng.integers(1, 3)), span)
            start = i0 + int(rng.integers(0, span - length + 1))
            if name == TRAP:  # a distribution episode whose last day is the trap
                out[start : start + length, j] = _R[DISTRIBUTION]
                out[start + length - 1, j] = _R[TRAP]
            else:
                out[start : start + length, j] = _R[name]
        pos += k
    # ordinary history: occasional markup days before the planted third
    early = rng.random((i0, len(liquid))) < _EARLY_MARKUP_P
    sub = out[:i0, liquid]
    sub[early] = _R[MARKUP]
    out[:i0, liquid] = sub
    # a few thin names wake up with a buying burst (no context -> WATCH_ACCUM)
    thin = np.flatnonzero(illiquid)
    for j in thin[rng.random(len(thin)) < 0.2]:
        out[i0 + int(rng.integers(0, span)), j] = _R[MARKUP]
    return out


def planted_regimes(
    start: date | str, end: date | str, n_tickers: int = 150, seed: int = 7
) -> dict[tuple[date, str], str]:
    """The regime planted for each (trading date, ticker) of `simulate_range` with the same arguments.

    Values are in REGIMES: "neutral"; "illiquid" (tail names: gaps, ~30% of days without trades);
    planted in the last third of the range, as episodes of consecutive sessions:
    "accumulation" (4-6 days: buy delta, flat price, foreign net buying -> ACCUMULATION state,
    STRONG_BUY / HIDDEN_ACCUM), "distribution" (4-6 days: sell delta, flat to slightly up price,
    foreign net selling -> DISTRIBUTION, STRONG_SELL / SELL), "trap" (the last day of a
    distribution episode with a buy-heavy tape, deltaPct > 80 -> TRAP_WARNING), "markup" (1-3
    days: price +3..8% with buy delta -> BUY; on a thin name without history -> WATCH_ACCUM; also
    ~1% of ordinary history days), "falling_knife" (1-2 days: price -6.5..-12% from the open with
    sell delta -> SELL).
    """
    days = idx_calendar.trading_days(start, end)
    uni = load_universe(n_tickers)
    reg = _assign_regimes(days, uni, seed)
    tickers = uni["ticker"].tolist()
    return {(d, t): REGIMES[reg[i, j]] for i, d in enumerate(days) for j, t in enumerate(tickers)}


@dataclass(frozen=True)
class DayPlan:
    """Day-level decisions for every ticker of one date (columns aligned with the universe rows)."""

    d: date
    regime: npt.NDArray[np.int8]  # regime index
    prev_close: IntArray
    open_px: IntArray
    close_px: IntArray
    activity: FloatArray  # multiplier of the ticker's usual trade count (0 = no trades)
    p_buy: FloatArray
    f_buy: FloatArray  # foreign share of buying
    f_sell: FloatArray  # foreign share of selling
    zero_file: npt.NDArray[np.bool_]  # a no-trade day writes a "0" file (else no file)


def plan_range(days: list[date], uni: pd.DataFrame, seed: int) -> list[DayPlan]:
    """Chain the daily closes of every ticker through the range so each day opens near yesterday."""
    n, m = len(days), len(uni)
    reg = _assign_regimes(days, uni, seed)
    cols = {k: np.zeros((n, m)) for k in ("prev", "open", "close", "act", "pbuy", "fb", "fs")}
    zero = np.zeros((n, m), dtype=bool)
    tickers = uni["ticker"].tolist()
    closes = uni["close"].to_numpy()
    sigmas = uni["sigma"].to_numpy()
    illiquid = uni["illiquid"].to_numpy()
    for j, t in enumerate(tickers):
        rng = np.random.default_rng([seed, crc(t), 1, days[0].toordinal() if days else 0])
        base_foreign = float(rng.uniform(0.05, 0.2) if illiquid[j] else rng.uniform(0.2, 0.5))
        sigma = float(sigmas[j])
        prev = int(snap_grid(closes[j]))
        u = rng.random((n, 8))  # fixed draws per day, whatever the regime
        g = rng.standard_normal((n, 4))
        for i in range(n):
            r = REGIMES[reg[i, j]]
            par = PARAMS[r]
            lo, hi = reject_bounds(prev)
            gap = g[i, 0] * sigma / 4 if par.ret is None else g[i, 0] * 0.002
            open_px = int(np.clip(snap_grid(prev * math.exp(gap)), lo, hi))
            if par.ret is None:
                ret = float(np.clip(g[i, 1] * sigma, -3 * sigma, 3 * sigma))
            else:
                ret = par.ret[0] + u[i, 0] * (par.ret[1] - par.ret[0])
            close_px = int(np.clip(snap_grid(open_px * math.exp(ret)), lo, hi))
            act = par.activity * math.exp(0.25 * g[i, 2] - 0.03)
            if r == ILLIQUID and u[i, 1] < _ILLIQUID_NO_TRADE_P:
                act = 0.0
            if r == MARKUP and illiquid[j]:
                act = 8.0
            tilt_noise = g[i, 3] * (0.05 if illiquid[j] else 0.03)
            fb = base_foreign + par.tilt / 2 + tilt_noise / 2
            fs = base_foreign - par.tilt / 2 - tilt_noise / 2
            cols["prev"][i, j], cols["open"][i, j], cols["close"][i, j] = prev, open_px, close_px
            cols["act"][i, j] = act
            cols["pbuy"][i, j] = par.p_buy[0] + u[i, 2] * (par.p_buy[1] - par.p_buy[0])
            cols["fb"][i, j] = min(max(fb, 0.01), 0.95)
            cols["fs"][i, j] = min(max(fs, 0.01), 0.95)
            zero[i, j] = u[i, 3] < 0.5
            if act > 0:
                prev = close_px
    return [
        DayPlan(
            d,
            reg[i],
            cols["prev"][i].astype(np.int64),
            cols["open"][i].astype(np.int64),
            cols["close"][i].astype(np.int64),
            cols["act"][i],
            cols["pbuy"][i],
            cols["fb"][i],
            cols["fs"][i],
            zero[i],
        )
        for i, d in enumerate(days)
    ]
