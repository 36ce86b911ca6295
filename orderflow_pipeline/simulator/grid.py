"""The IDX price grid and the auto-reject band: every simulated price is one a real order could have.

Why its own module: the trades, the daily plan and the tests all snap prices the same way; a
second copy of the tick table would let them drift apart.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from orderflow_pipeline.bounds import TICK_EDGES, TICKS, ara_pct

# The IDX tick table is the core's (bounds.py); the simulator only vectorises it.
_TICK_EDGES = np.array(TICK_EDGES)
_TICKS = np.array(TICKS)

IntArray = npt.NDArray[np.int64]


def tick_size(price: npt.ArrayLike) -> IntArray:
    """IDX tick by price: <200:1, 200-500:2, 500-2000:5, 2000-5000:10, >=5000:25."""
    out: IntArray = _TICKS[np.searchsorted(_TICK_EDGES, np.asarray(price), side="right")]
    return out


def on_grid(price: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a price is a positive multiple of its own tick."""
    p = np.asarray(price)
    out: npt.NDArray[np.bool_] = (p >= 1) & (p % tick_size(p) == 0)
    return out


def floor_grid(x: npt.ArrayLike) -> IntArray:
    """The highest grid price <= x (at least 1): the bid under a mid price."""
    v = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(v)
    out: IntArray = np.maximum((np.floor(v / t) * t).astype(np.int64), 1)
    return out


def ceil_grid(x: npt.ArrayLike) -> IntArray:
    """The lowest grid price >= x (1e-9 absorbs float noise of an exact multiple)."""
    v = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(v)
    out: IntArray = (np.ceil(v / t - 1e-9) * t).astype(np.int64)
    return out


def snap_grid(x: npt.ArrayLike) -> IntArray:
    """The nearest grid price (at least 1)."""
    v = np.maximum(np.asarray(x, dtype=np.float64), 1.0)
    t = tick_size(v)
    out: IntArray = np.maximum((np.rint(v / t) * t).astype(np.int64), 1)
    return out


def reject_bounds(prev_close: int) -> tuple[int, int]:
    """Auto-reject band around the previous close, ±ARA (bounds.ara_pct: 35/25/20 % by price).

    Symmetric on purpose: the board's band before April 2025, which the simulated history (and
    its golden numbers) was drawn in; the tape's plausibility margin admits both (bounds.py)."""
    pct = ara_pct(prev_close) / 100
    lo = int(ceil_grid(prev_close * (1 - pct)))
    hi = int(floor_grid(prev_close * (1 + pct)))
    return max(lo, 1), max(hi, lo)
