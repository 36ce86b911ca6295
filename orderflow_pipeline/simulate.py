"""A realistic simulated IDX market: trade tape (`raw_lt/`) and IPOT broker summaries (`raw-broksum/`).

Why a simulator at all: the real fixtures hold seconds of tape and four days of broker summaries,
far too little to exercise 20-session z-scores, the 3-of-5 accumulation rule or every signal of
the table. The simulator writes weeks of market that look like the real feed byte for byte
(same pipe fields, same JSON envelope, same IPOT document), calibrated on the real daily
snapshot of 1,234 tickers, with known *regimes* planted so tests can check that the pipeline
finds them (`planted_regimes`).

Realism the pipeline must cope with, on purpose:
- prices on the IDX tick grid, inside the auto-reject bounds of the previous close;
- continuous trades only inside the sessions of `idx_calendar.continuous_windows` (Friday's long
  break included); opening-auction prints at 08:59 WIB, closing-auction prints at 15:59 WIB and a
  few post-trading prints (16:01-16:15), marked like a call-auction match: *both* order-number
  fields [13] and [14] non-zero (a continuous trade has exactly one: [14] buyer-initiated,
  [13] seller-initiated, the other "00");
- a few negotiated (NG) and cash (TN) board prints at any time of day;
- trade numbers increasing market-wide through the day (as in the real tape);
- `ts` = trade time + a receipt lag, objects filed by the UTC hour of *receipt*, so trades of the
  last second of an hour land in the next hour's folder; about one object per 10 minutes, named
  `{flush_ms}_{count}.jsonl` like the real `1771380009443_386.jsonl` (flush time after its last
  line);
- about 0.05% of lines replayed a second time by a "reconnect" (same raw line, later `ts`).

Broker summaries are built from the same trades (regular board, auctions included, other boards
and replays excluded): `value = Σ price·lots·100`, `volume = Σ lots·100` (shares),
`average = floor(value / volume)`, `frequency` = number of those trades, and every trade is given
one buying and one selling broker, so Σ bval = Σ sval = value exactly. A ticker-day without trades
gets either a file whose `bandar_detector.value` is "0" or no file at all (both occur upstream).

Determinism: every random draw comes from a numpy Generator seeded with (seed, date, ticker) or
(seed, ticker) — never global state — so the same arguments give byte-identical objects.
"""

from __future__ import annotations

import math
import os
import time as _time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import idx_calendar
from .keys import WIB, as_date, broksum_key, check_ticker, trade_date_of_raw_key
from .lake import Lake, dumps

# ---------------------------------------------------------------------------------------------
# Regimes
# ---------------------------------------------------------------------------------------------

NEUTRAL = "neutral"
ACCUMULATION = "accumulation"
DISTRIBUTION = "distribution"
TRAP = "trap"  # distribution's broker flow under a buy-heavy tape (TRAP_WARNING)
MARKUP = "markup"
FALLING_KNIFE = "falling_knife"
ILLIQUID = "illiquid"
REGIMES: tuple[str, ...] = (NEUTRAL, ACCUMULATION, DISTRIBUTION, TRAP, MARKUP, FALLING_KNIFE, ILLIQUID)
_R = {name: i for i, name in enumerate(REGIMES)}


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
_PLANT_SHARE = ((ACCUMULATION, 0.14), (DISTRIBUTION, 0.10), (TRAP, 0.04), (MARKUP, 0.10), (FALLING_KNIFE, 0.06))
_TAIL_SHARE = 0.15  # n_tickers takes the N*(1-0.15) most liquid plus a tail of illiquid names
_EARLY_MARKUP_P = 0.01  # ordinary history: an occasional markup day before the last third
_ILLIQUID_NO_TRADE_P = 0.3

# ---------------------------------------------------------------------------------------------
# Brokers: the codes and types seen in the real IPOT fixtures (8 foreign, 78 local)
# ---------------------------------------------------------------------------------------------

FOREIGN_BROKERS = ("AK", "BK", "CC", "DX", "KZ", "RX", "YU", "ZP")
LOCAL_BROKERS = tuple(
    "AD AF AG AH AI AN AO AR AT AZ BB BQ BR BS CD CP DD DH DP DR DU EL EP ES FO FS FZ GA GI GR HD HP "
    "ID IF IH II IN IT IU JB KI KK LG LS MG MI MU NI OD OK PC PD PF PG PO PP QA RB RF RG RO RS SA SF "
    "SH SQ SS TF TP TS XA XC XL YB YJ YO YP ZR".split()
)
BROKERS = FOREIGN_BROKERS + LOCAL_BROKERS
BROKER_TYPE = tuple("Asing" if i < len(FOREIGN_BROKERS) else "Lokal" for i in range(len(BROKERS)))
_NF = len(FOREIGN_BROKERS)

# ---------------------------------------------------------------------------------------------
# IDX price grid and auto-reject bounds
# ---------------------------------------------------------------------------------------------

_TICK_EDGES = np.array([200, 500, 2000, 5000])
_TICKS = np.array([1, 2, 5, 10, 25])


def tick_size(price: np.ndarray | float) -> np.ndarray:
    """IDX tick by price: <200:1, 200-500:2, 500-2000:5, 2000-5000:10, >=5000:25."""
    return _TICKS[np.searchsorted(_TICK_EDGES, np.asarray(price), side="right")]


def on_grid(price: np.ndarray | float) -> np.ndarray:
    p = np.asarray(price)
    return (p >= 1) & (p % tick_size(p) == 0)


def floor_grid(x: np.ndarray | float) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(x)
    return np.maximum((np.floor(x / t) * t).astype(np.int64), 1)


def ceil_grid(x: np.ndarray | float) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(x)
    return (np.ceil(x / t - 1e-9) * t).astype(np.int64)


def snap_grid(x: np.ndarray | float) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(x)
    return np.maximum((np.rint(x / t) * t).astype(np.int64), 1)


def reject_bounds(prev_close: int) -> tuple[int, int]:
    """Auto-reject band around the previous close (35% below 200, 25% to 5000, 20% above)."""
    pct = 0.35 if prev_close < 200 else (0.25 if prev_close <= 5000 else 0.20)
    lo = int(ceil_grid(prev_close * (1 - pct)))
    hi = int(floor_grid(prev_close * (1 + pct)))
    return max(lo, 1), max(hi, lo)


# ---------------------------------------------------------------------------------------------
# Universe
# ---------------------------------------------------------------------------------------------


def snapshot_path() -> Path | Any:
    """The real daily snapshot: $ORDERFLOW_SHARED, else ../shared next to the repo, else the packaged copy."""
    env = os.environ.get("ORDERFLOW_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared")
    for base in candidates:
        p = base / "fixtures" / "real" / "idx_daily_snapshot.csv"
        if p.is_file():
            return p
    return resources.files("orderflow_pipeline").joinpath("data/idx_daily_snapshot.csv")


def load_snapshot() -> pd.DataFrame:
    with resources.as_file(snapshot_path()) as p:
        df = pd.read_csv(p, dtype={"ticker": str})
    df = df[df["ticker"].str.fullmatch(r"[A-Z0-9]{1,12}") & (df["frequency"] > 0) & (df["close"] > 0)]
    return df.sort_values(["value_idr", "ticker"], ascending=[False, True]).reset_index(drop=True)


def load_universe(n_tickers: int = 150) -> pd.DataFrame:
    """The N most liquid tickers plus a tail of illiquid ones, with their real liquidity.

    Columns: ticker, open, high, low, close, volume_lots, frequency, value_idr, rank (by value),
    illiquid (bool: a tail name), sigma (daily volatility estimate from the real high-low range).
    """
    snap = load_snapshot()
    n = max(1, min(int(n_tickers), len(snap)))
    if n >= len(snap):
        top, tail = snap, snap.iloc[0:0]
    else:
        n_tail = int(round(n * _TAIL_SHARE)) if n >= 10 else 0
        n_top = n - n_tail
        top = snap.iloc[:n_top]
        rest = snap.iloc[n_top:]
        # evenly spaced through the rest of the ranking: from middling to very thin names
        idx = np.unique(np.linspace(0, len(rest) - 1, n_tail).round().astype(int)) if n_tail else []
        tail = rest.iloc[idx]
    uni = pd.concat([top, tail]).copy()
    uni["rank"] = uni.index.astype(int)
    uni["illiquid"] = False
    if len(tail):
        uni.loc[tail.index, "illiquid"] = True
    if n >= len(snap):  # the whole market: its thin half is the illiquid tail
        uni["illiquid"] = uni["frequency"] < 50
    rng = (uni["high"] - uni["low"]) / uni["close"]
    uni["sigma"] = (rng * 0.5).clip(0.004, 0.025)
    return uni.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Regime planting and the daily plan
# ---------------------------------------------------------------------------------------------


def _crc(s: str) -> int:
    return zlib.crc32(s.encode())


def _assign_regimes(days: list[date], uni: pd.DataFrame, seed: int) -> np.ndarray:
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


def planted_regimes(start: date | str, end: date | str, n_tickers: int = 150, seed: int = 7) -> dict[tuple[date, str], str]:
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
    regime: np.ndarray  # int8 regime index
    prev_close: np.ndarray  # int64
    open_px: np.ndarray
    close_px: np.ndarray
    activity: np.ndarray  # multiplier of the ticker's usual trade count (0 = no trades)
    p_buy: np.ndarray
    f_buy: np.ndarray  # foreign share of buying
    f_sell: np.ndarray  # foreign share of selling
    zero_file: np.ndarray  # bool: a no-trade day writes a "0" file (else no file)


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
        rng = np.random.default_rng([seed, _crc(t), 1, days[0].toordinal() if days else 0])
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


# ---------------------------------------------------------------------------------------------
# One ticker-day of trades (vectorised)
# ---------------------------------------------------------------------------------------------

BOARD_RG, BOARD_NG, BOARD_TN = 0, 1, 2
BOARDS = ("RG", "NG", "TN")
_DAY_MS = 86_400_000


@dataclass
class TickerDay:
    """Trades of one ticker on one date, in (time, sequence) order; times are WIB ms of the day."""

    ms: np.ndarray  # int64 WIB milliseconds since midnight
    board: np.ndarray  # int8
    price: np.ndarray  # int64
    lots: np.ndarray  # int64
    o13: np.ndarray  # int64 seller-side order number (0 = "00")
    o14: np.ndarray  # int64 buyer-side order number
    chg_prev: np.ndarray  # [16] price change vs the ticker's previous trade
    avg: np.ndarray  # [17] running average price of the day (regular board)
    buy_broker: np.ndarray  # int16 broker index (regular board only meaningful)
    sell_broker: np.ndarray


def _session_ms(d: date) -> tuple[np.ndarray, np.ndarray, int]:
    wins = idx_calendar.continuous_windows_seconds(d.weekday())
    starts = np.array([a * 1000 for a, _ in wins], dtype=np.int64)
    lens = np.array([(b - a) * 1000 for a, b in wins], dtype=np.int64)
    return starts, lens, int(lens.sum())


def _broker_weights(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Zipf-like weights over a ticker-specific ordering of foreign and local brokers."""
    wf = 1.0 / np.arange(1, _NF + 1) ** 1.1
    wl = 1.0 / np.arange(1, len(LOCAL_BROKERS) + 1) ** 1.1
    return rng.permutation(wf) / wf.sum(), rng.permutation(wl) / wl.sum()


def simulate_ticker_day(
    d: date, ticker: str, row: pd.Series | dict[str, Any], plan: DayPlan, j: int, seed: int, trade_scale: float
) -> TickerDay | None:
    """All prints of one ticker-day; None when it does not trade."""
    rng = np.random.default_rng([seed, d.toordinal(), _crc(ticker)])
    act = float(plan.activity[j])
    freq = float(row["frequency"])
    base_n = max(freq * trade_scale, min(freq, 30.0))
    n = int(rng.poisson(base_n * act)) if act > 0 else 0
    if REGIMES[plan.regime[j]] == MARKUP and bool(row["illiquid"]):
        n = max(n, 40)
    if n <= 0:
        return None
    mean_lots = max(1.0, float(row["volume_lots"]) / base_n)
    prev, open_px, close_px = int(plan.prev_close[j]), int(plan.open_px[j]), int(plan.close_px[j])
    lo, hi = reject_bounds(prev)
    sigma = float(row["sigma"])

    n_open = 1 + n // 100 if n >= 20 else 0
    n_close = 1 + n // 70 if n >= 20 else 0
    n_post = int(rng.integers(0, 3)) if n >= 500 else 0
    n_c = max(n - n_open - n_close - n_post, 1)

    # continuous times: U-shaped intraday activity over the concatenated session windows
    starts, lens, total = _session_ms(d)
    u = np.sort(rng.beta(0.75, 0.75, n_c))
    off = np.minimum((u * total).astype(np.int64), total - 1)
    w = np.searchsorted(np.cumsum(lens), off, side="right")
    ms_c = starts[w] + off - np.concatenate(([0], np.cumsum(lens)[:-1]))[w]

    # price path: a Brownian bridge from the open to the planned close; prints at bid or ask
    f = off / total
    walk = np.cumsum(rng.standard_normal(n_c)) * (sigma / math.sqrt(n_c))
    bridge = walk - f * walk[-1]
    mid = open_px * np.exp(f * math.log(close_px / open_px) + bridge)
    buy = rng.random(n_c) < float(plan.p_buy[j])
    bid = floor_grid(mid)
    ask = bid + tick_size(bid)
    px_c = np.clip(np.where(buy, ask, bid), lo, hi)
    if n_close == 0:  # no closing auction: the last trade sets the close the next day opens from
        px_c[-1] = close_px

    s = 1.0
    lots_c = np.maximum(1, np.rint(rng.lognormal(math.log(mean_lots) - s * s / 2, s, n_c))).astype(np.int64)
    order_base = np.maximum(ms_c // 1000 - 31_500, 1) * 40
    order_no = order_base + rng.integers(1, 40_000, n_c)
    o14_c = np.where(buy, order_no, 0)
    o13_c = np.where(buy, 0, order_no)

    parts_ms = [ms_c]
    parts_px = [px_c]
    parts_lots = [lots_c]
    parts_o13 = [o13_c]
    parts_o14 = [o14_c]
    parts_board = [np.zeros(n_c, dtype=np.int8)]

    def auction(k: int, second: int, price: int, size: float) -> None:
        if k <= 0:
            return
        ms = np.full(k, second * 1000, dtype=np.int64) + np.sort(rng.integers(0, 900, k))
        parts_ms.append(ms)
        parts_px.append(np.full(k, price, dtype=np.int64))
        parts_lots.append(np.maximum(1, np.rint(rng.lognormal(math.log(mean_lots * size) - 0.5, 1.0, k))).astype(np.int64))
        parts_o13.append(rng.integers(1_000, 900_000, k))
        parts_o14.append(rng.integers(1_000, 900_000, k))
        parts_board.append(np.zeros(k, dtype=np.int8))

    # a trap day's buying happens in the continuous market (its deltaPct must clear 80): thin auctions
    size = 0.3 if REGIMES[plan.regime[j]] == TRAP else 2.0
    auction(n_open, 8 * 3600 + 59 * 60 + int(rng.integers(0, 30)), open_px, size)
    auction(n_close, 15 * 3600 + 59 * 60 + int(rng.integers(0, 30)), close_px, size)
    if n_post:
        auction(n_post, 16 * 3600 + 60 + int(rng.integers(0, 13 * 60)), close_px, 1.0)

    # negotiated / cash board prints: big blocks at the previous close, any time of day
    if freq * trade_scale >= 200 and rng.random() < 0.3:
        k = int(rng.integers(1, 4))
        parts_ms.append(np.sort(rng.integers(9 * 3_600_000, 16 * 3_600_000, k)))
        parts_px.append(np.full(k, prev, dtype=np.int64))
        parts_lots.append(np.rint(mean_lots * rng.uniform(20, 200, k)).astype(np.int64) + 1)
        parts_o13.append(rng.integers(1_000, 900_000, k))
        parts_o14.append(rng.integers(1_000, 900_000, k))
        parts_board.append(np.where(rng.random(k) < 0.85, BOARD_NG, BOARD_TN).astype(np.int8))

    ms = np.concatenate(parts_ms)
    # (time, sequence) order: the 08:59 opening match first, ties keep the generation order
    order = np.argsort(ms, kind="stable")
    ms = ms[order]
    price = np.concatenate(parts_px)[order]
    lots = np.concatenate(parts_lots)[order]
    o13 = np.concatenate(parts_o13)[order]
    o14 = np.concatenate(parts_o14)[order]
    board = np.concatenate(parts_board)[order]

    rg = board == BOARD_RG
    chg_prev = np.zeros(len(ms), dtype=np.int64)
    if len(ms) > 1:
        chg_prev[1:] = np.diff(price)
    pv = np.cumsum(np.where(rg, price * lots, 0))
    lv = np.cumsum(np.where(rg, lots, 0))
    avg = np.where(lv > 0, np.rint(pv / np.maximum(lv, 1)), price).astype(np.int64)

    wf, wl = _broker_weights(np.random.default_rng([seed, _crc(ticker), 2]))
    fb, fs = float(plan.f_buy[j]), float(plan.f_sell[j])
    p_b = np.concatenate((fb * wf, (1 - fb) * wl))
    p_s = np.concatenate((fs * wf, (1 - fs) * wl))
    nb = len(ms)
    buy_broker = rng.choice(len(BROKERS), nb, p=p_b / p_b.sum()).astype(np.int16)
    sell_broker = rng.choice(len(BROKERS), nb, p=p_s / p_s.sum()).astype(np.int16)
    return TickerDay(ms, board, price, lots, o13, o14, chg_prev, avg, buy_broker, sell_broker)


# ---------------------------------------------------------------------------------------------
# Broker summary (IPOT format)
# ---------------------------------------------------------------------------------------------


def _accdist(top5_bid: int, top5_offer: int) -> str:
    tot = top5_bid + top5_offer
    r = (top5_bid - top5_offer) / tot if tot else 0.0
    if r > 0.09:
        return "Big Akum"
    if r > 0.01:
        return "Akumulasi"
    if r < -0.09:
        return "Big Dist"
    if r < -0.01:
        return "Distribusi"
    return "Neutral"


def broksum_document(ticker: str, d: date, td: TickerDay | None) -> dict[str, Any]:
    """The IPOT broker-summary document of one ticker-day, built from its regular-board trades."""
    day = d.isoformat()
    compact = d.strftime("%Y%m%d")
    nb = len(BROKERS)
    if td is not None:
        rg = td.board == BOARD_RG
        price, lots = td.price[rg], td.lots[rg]
        val = price * lots * 100
        bb, sb = td.buy_broker[rg], td.sell_broker[rg]
        bval = np.rint(np.bincount(bb, weights=val, minlength=nb)).astype(np.int64)
        blot = np.bincount(bb, weights=lots, minlength=nb).astype(np.int64)
        sval = np.rint(np.bincount(sb, weights=val, minlength=nb)).astype(np.int64)
        slot = np.bincount(sb, weights=lots, minlength=nb).astype(np.int64)
        value, volume, freq = int(val.sum()), int(lots.sum()) * 100, int(rg.sum())
    else:
        bval = blot = sval = slot = np.zeros(nb, dtype=np.int64)
        value = volume = freq = 0
    buys, sells = [], []
    for i in sorted(np.flatnonzero(blot > 0), key=lambda i: (-bval[i], BROKERS[i])):
        buys.append({
            "netbs_broker_code": BROKERS[i], "netbs_date": compact, "netbs_stock_code": ticker,
            "type": BROKER_TYPE[i], "blot": str(blot[i]), "blotv": str(blot[i] * 100),
            "bval": str(bval[i]), "bvalv": str(bval[i]), "netbs_buy_avg_price": str(bval[i] // (blot[i] * 100)),
        })
    for i in sorted(np.flatnonzero(slot > 0), key=lambda i: (-sval[i], BROKERS[i])):
        sells.append({
            "netbs_broker_code": BROKERS[i], "netbs_date": compact, "netbs_stock_code": ticker,
            "type": BROKER_TYPE[i], "slot": str(slot[i]), "slotv": str(slot[i] * 100),
            "sval": str(sval[i]), "svalv": str(sval[i]), "netbs_sell_avg_price": str(sval[i] // (slot[i] * 100)),
        })
    net_val = bval - sval
    net_vol = (blot - slot) * 100
    up = sorted(np.flatnonzero(net_val > 0), key=lambda i: (-net_val[i], BROKERS[i]))
    down = sorted(np.flatnonzero(net_val < 0), key=lambda i: (net_val[i], BROKERS[i]))

    def top(k: int) -> dict[str, str]:
        return {
            "bid_val": str(int(sum(net_val[i] for i in up[:k]))),
            "bid_vol": str(int(sum(net_vol[i] for i in up[:k]))),
            "offer_val": str(int(-sum(net_val[i] for i in down[:k]))),
            "offer_vol": str(int(-sum(net_vol[i] for i in down[:k]))),
        }

    tops = {f"top{k}": top(k) for k in (1, 3, 5)}
    average = value // volume if volume else 0
    return {
        "message": "Successfully retrieved market detector data (IPOT Proxy)",
        "data": {
            "from": day,
            "to": day,
            "bandar_detector": {
                "average": str(average), "value": str(value), "volume": str(volume), "frequency": str(freq),
                "accdist": _accdist(int(tops["top5"]["bid_val"]), int(tops["top5"]["offer_val"])),
                **tops,
                "total_buyer": len(up), "total_seller": len(down),
            },
            "broker_summary": {"symbol": ticker, "brokers_buy": buys, "brokers_sell": sells},
        },
        "_meta": {
            "source": "ipot",
            "summary": {
                "__summary": True, "stock_code": ticker, "total_value": str(value),
                "total_volume_shares": str(volume), "total_freq": str(freq), "average_price": str(average),
                "raw": f"{ticker}|{value}|{volume}|{freq}|{value}|{volume}|{freq}|0|0|{2 * value}|{2 * volume}|1",
            },
            "integrity_check": {
                "calculated_buy_val": str(int(bval.sum())), "summary_val": str(value),
                "delta_val": str(value - int(bval.sum())), "match_likely": True,
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Tape serialisation (pyarrow compute: no Python loop per trade)
# ---------------------------------------------------------------------------------------------

_PREFIX = '{"v":2,"fmt":"pipe","src":"ipot_ws","raw":"'


def _str(x: np.ndarray, pad: int = 0) -> pa.Array:
    """Decimal strings of int64s (Arrow's cast), zero-padded to `pad` characters when asked."""
    out = pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.large_string())
    return pc.utf8_lpad(out, pad, "0") if pad else out


def _lines(
    tickers: pa.Array, tick_idx: np.ndarray, ms: np.ndarray, board: np.ndarray, trade_no: np.ndarray,
    price: np.ndarray, lots: np.ndarray, prev: np.ndarray, o13: np.ndarray, o14: np.ndarray,
    chg_prev: np.ndarray, avg: np.ndarray, ts: np.ndarray,
) -> pa.LargeStringArray:
    sec = ms // 1000
    hhmmss = (sec // 3600) * 10000 + (sec // 60 % 60) * 100 + sec % 60
    pct = np.trunc((price - prev) * 100.0 / prev).astype(np.int64)

    def order(x: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(x == 0), pa.scalar("00", pa.large_string()), _str(x))

    cols = [
        "B",
        _str(hhmmss, 6),
        "0",
        pc.cast(tickers.take(pa.array(tick_idx)), pa.large_string()),
        pa.array(BOARDS, pa.large_string()).take(pa.array(board)),
        _str(trade_no, 6),
        _str(price), _str(lots), "--", "-", "--", "-", _str(prev), order(o13), order(o14),
        _str(price - prev), _str(chg_prev), _str(avg), _str(pct), "1",
    ]
    cols = [pa.scalar(c, pa.large_string()) if isinstance(c, str) else c for c in cols]
    raw = pc.binary_join_element_wise(*cols, pa.scalar("|", pa.large_string()))
    return pc.binary_join_element_wise(
        pa.scalar(_PREFIX, pa.large_string()), raw, pa.scalar('","ts":', pa.large_string()), _str(ts),
        pa.scalar(',"ts_quality":"ingestion"}\n', pa.large_string()), pa.scalar("", pa.large_string()),
    )


def _slice_bytes(arr: pa.LargeStringArray, a: int, b: int) -> bytes:
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return arr.buffers()[2][int(offsets[a]) : int(offsets[b])].to_pybytes()


# ---------------------------------------------------------------------------------------------
# A day and a range
# ---------------------------------------------------------------------------------------------

REPLAY_SHARE = 0.0005
OBJECT_MINUTES = 10


def _utc_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=WIB).timestamp() * 1000)


def simulate_day(
    lake: Lake, d: date | str, universe: pd.DataFrame, seed: int = 7, *, plan: DayPlan | None = None,
    trade_scale: float = 0.1, replace: bool = True,
) -> dict[str, Any]:
    """Write one trading day's tape objects and broker summaries; returns counts.

    Without `plan` the day is planned on its own (a one-day range). `replace` deletes raw_lt
    objects of the date that this run did not write (a re-run with another seed must not mix
    with the old tape); with the same arguments the same keys and bytes are written again.
    """
    t0 = _time.perf_counter()
    d = as_date(d)
    if not idx_calendar.is_trading_day(d):
        raise ValueError(f"{d} is not an IDX trading day")
    if plan is None:
        plan = plan_range([d], universe, seed)[0]
    tickers = [check_ticker(t) for t in universe["ticker"].tolist()]
    rows = universe.to_dict("records")
    parts: list[tuple[int, TickerDay]] = []
    objects: dict[str, bytes] = {}
    for j, t in enumerate(tickers):
        td = simulate_ticker_day(d, t, rows[j], plan, j, seed, trade_scale)
        if td is not None:
            parts.append((j, td))
            objects[broksum_key(t, d)] = dumps(broksum_document(t, d, td))
        elif plan.zero_file[j]:
            objects[broksum_key(t, d)] = dumps(broksum_document(t, d, None))

    n_trades = n_replays = 0
    if parts:
        tick_idx = np.concatenate([np.full(len(td.ms), j, dtype=np.int32) for j, td in parts])

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(td, name) for _, td in parts])

        ms, board, price, lots = cat("ms"), cat("board"), cat("price"), cat("lots")
        o13, o14, chg_prev, avg = cat("o13"), cat("o14"), cat("chg_prev"), cat("avg")
        prev = plan.prev_close[tick_idx]
        # market-wide trade numbers in time order (stable: a ticker's own order is kept)
        order = np.argsort(ms, kind="stable")
        n_trades = len(order)
        rng = np.random.default_rng([seed, d.toordinal(), 0x7A9E])
        trade_no = np.empty(n_trades, dtype=np.int64)
        trade_no[order] = 1 + np.arange(n_trades) + int(rng.integers(0, 5_000))
        lag = (250 + rng.lognormal(6.5, 0.6, n_trades)).astype(np.int64)  # ~0.9 s typical
        slow = rng.random(n_trades) < 0.002
        lag[slow] += rng.integers(2_000, 60_000, int(slow.sum()))
        ts = _utc_ms(d) + ms + lag
        # a reconnect replays a few lines: same raw line, received again later
        rep = np.flatnonzero(rng.random(n_trades) < REPLAY_SHARE)
        n_replays = len(rep)
        idx = np.concatenate((np.arange(n_trades), rep))
        ts_all = np.concatenate((ts, ts[rep] + rng.integers(1_000, 30_000, n_replays)))
        by_ts = idx[np.argsort(ts_all, kind="stable")]
        ts_sorted = np.sort(ts_all, kind="stable")
        lines = _lines(
            pa.array(tickers), tick_idx[by_ts], ms[by_ts], board[by_ts], trade_no[by_ts], price[by_ts],
            lots[by_ts], prev[by_ts], o13[by_ts], o14[by_ts], chg_prev[by_ts], avg[by_ts], ts_sorted,
        )
        bucket = ts_sorted // (OBJECT_MINUTES * 60_000)
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        bounds = np.concatenate(([0], cuts, [len(bucket)]))
        flush = rng.integers(50, 600, len(bounds) - 1)
        for k in range(len(bounds) - 1):
            a, b = int(bounds[k]), int(bounds[k + 1])
            hour = datetime.fromtimestamp(int(ts_sorted[a]) // 1000, tz=timezone.utc)
            name = f"{int(ts_sorted[b - 1]) + int(flush[k])}_{b - a}.jsonl"
            objects[f"raw_lt/{hour:%Y/%m/%d/%H}/{name}"] = _slice_bytes(lines, a, b)

    if replace:
        _drop_stale(lake, d, objects)
    # Re-simulating the same seed must not touch identical objects: a new mtime would make every
    # downstream manifest treat the whole range as new tape.
    old = lake.cat_many(objects)
    lake.write_many({k: v for k, v in objects.items() if old.get(k) != v})
    return {
        "date": d.isoformat(),
        "tickers": len(parts),
        "trades": int(n_trades),
        "replayed": int(n_replays),
        "objects": len(objects),
        "tape_objects": sum(k.startswith("raw_lt/") for k in objects),
        "broksum_files": sum(k.startswith("raw-broksum/") for k in objects),
        "seconds": round(_time.perf_counter() - t0, 3),
    }


def _drop_stale(lake: Lake, d: date, keep: dict[str, bytes]) -> None:
    start = datetime(d.year, d.month, d.day, tzinfo=WIB).astimezone(timezone.utc)
    for day in sorted({start, start + timedelta(hours=23)}):
        for key in lake.list(f"raw_lt/{day:%Y/%m/%d}/"):
            if key not in keep and trade_date_of_raw_key(key) == d:
                lake.delete(key)


def simulate_range(
    lake: Lake, start: date | str, end: date | str, n_tickers: int = 150, seed: int = 7, progress: bool = False,
    *, trade_scale: float = 0.1,
) -> dict[str, Any]:
    """Simulate every trading day in [start, end] for the universe of `n_tickers`.

    `trade_scale` thins the number of prints of liquid names (lots per print grow so traded value
    stays at the snapshot's level; names with under 30 trades a day keep their real count): 0.1
    keeps the 30-day demo light, 1.0 reproduces the snapshot's ~940k prints a day for the market.
    """
    t0 = _time.perf_counter()
    days = idx_calendar.trading_days(start, end)
    uni = load_universe(n_tickers)
    plans = plan_range(days, uni, seed)
    it: Iterable[DayPlan] = plans
    if progress:
        from tqdm import tqdm

        it = tqdm(plans, desc="simulate", unit="day")
    per_day = [simulate_day(lake, p.d, uni, seed, plan=p, trade_scale=trade_scale) for p in it]
    return {
        "days": len(days),
        "tickers": len(uni),
        "trades": sum(s["trades"] for s in per_day),
        "replayed": sum(s["replayed"] for s in per_day),
        "objects": sum(s["objects"] for s in per_day),
        "start": days[0].isoformat() if days else None,
        "end": days[-1].isoformat() if days else None,
        "seconds": round(_time.perf_counter() - t0, 3),
    }
