"""One ticker-day of prints (vectorised): times, prices, sizes, order numbers, boards, brokers.

Realism the pipeline must cope with, on purpose: continuous trades only inside the sessions of
`idx_calendar.continuous_windows` (Friday's long break included); opening-auction prints at 08:59
WIB, closing-auction prints at 15:59 WIB and a few post-trading prints (16:01-16:15), marked like
a call-auction match: *both* order-number fields [13] and [14] non-zero (a continuous trade has
exactly one: [14] buyer-initiated, [13] seller-initiated, the other "00"); a few negotiated (NG)
and cash (TN) board prints at any time of day.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator.brokers import BROKERS, broker_weights
from orderflow_pipeline.simulator.grid import floor_grid, reject_bounds, tick_size
from orderflow_pipeline.simulator.regimes import MARKUP, REGIMES, TRAP, DayPlan, crc

BOARD_RG, BOARD_NG, BOARD_TN = 0, 1, 2
BOARDS = ("RG", "NG", "TN")  # board code by index, as written in tape field [4]

IntArray = npt.NDArray[np.int64]


@dataclass
class TickerDay:
    """Trades of one ticker on one date, in (time, sequence) order; times are WIB ms of the day."""

    ms: IntArray  # WIB milliseconds since midnight
    board: npt.NDArray[np.int8]
    price: IntArray
    lots: IntArray
    o13: IntArray  # seller-side order number (0 = "00")
    o14: IntArray  # buyer-side order number
    chg_prev: IntArray  # [16] price change vs the ticker's previous trade
    avg: IntArray  # [17] running average price of the day (regular board)
    buy_broker: npt.NDArray[np.int16]  # broker index (regular board only meaningful)
    sell_broker: npt.NDArray[np.int16]


def _session_ms(d: date) -> tuple[IntArray, IntArray, int]:
    wins = idx_calendar.continuous_windows_seconds(d.weekday())
    starts = np.array([a * 1000 for a, _ in wins], dtype=np.int64)
    lens = np.array([(b - a) * 1000 for a, b in wins], dtype=np.int64)
    return starts, lens, int(lens.sum())


def simulate_ticker_day(
    d: date,
    ticker: str,
    row: Mapping[Hashable, Any],
    plan: DayPlan,
    j: int,
    seed: int,
    trade_scale: float,
) -> TickerDay | None:
    """All prints of one ticker-day (`row`: its universe row, `j`: its plan column); None when it does not trade."""
    rng = np.random.default_rng([seed, d.toordinal(), crc(ticker)])
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
        sizes = rng.lognormal(math.log(mean_lots * size) - 0.5, 1.0, k)
        parts_lots.append(np.maximum(1, np.rint(sizes)).astype(np.int64))
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

    wf, wl = broker_weights(np.random.default_rng([seed, crc(ticker), 2]))
    fb, fs = float(plan.f_buy[j]), float(plan.f_sell[j])
    p_b = np.concatenate((fb * wf, (1 - fb) * wl))
    p_s = np.concatenate((fs * wf, (1 - fs) * wl))
    nb = len(ms)
    buy_broker = rng.choice(len(BROKERS), nb, p=p_b / p_b.sum()).astype(np.int16)
    sell_broker = rng.choice(len(BROKERS), nb, p=p_s / p_s.sum()).astype(np.int16)
    return TickerDay(ms, board, price, lots, o13, o14, chg_prev, avg, buy_broker, sell_broker)
