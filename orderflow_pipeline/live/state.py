"""One ticker's live day in compact columns: its trades and its candles (SPEC §16 Engine).

Why columns and not lines: a full-market day is ~1.2 M trades. Kept as envelope lines (Python
bytes objects, ~300 bytes each plus object overhead) and re-derived whole on every change, the
day cost gigabytes and a recompute grew with the day. Here a trade is ~40 bytes of numpy columns
in (trade time, trade number) order, a candle one row of integers plus its §6 line, and a change
touches only the stretch of trades and the minutes it can change.

This module only keeps and finds things; it decides nothing of §5/§6: the columns it stores come
from the tape layer's parse and SQL (`tape.session_sql`, `tape.bucket_sql`, `tape.classify`) and
the candle lines from the footprint layer's aggregation (`build.hour_bodies`), both run by
`live.engine`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# rule_side as the tape SQL gives it (±1, 0 outside the continuous sessions) or NULL (both or
# neither order number set: the tick rule decides), kept in int8 with NULL as this value
RULE_NULL = 2
TRADE_COLUMNS: dict[str, Any] = {
    "secs": np.int32,
    "trade_no": np.int64,
    "price": np.int64,
    "vol": np.int64,
    "t0": np.int64,
    "cont": np.bool_,
    "rule_side": np.int8,
    "side": np.int8,
}
# a candle's numbers, for the summary's aggregation: t0 then §6 o, h, l, c, vol, delta
CANDLE_COLUMNS = ("time_key", "open", "high", "low", "close", "vol", "delta")


def _grow(arr: npt.NDArray[Any], need: int) -> npt.NDArray[Any]:
    if need <= len(arr):
        return arr
    out = np.empty((max(need, 2 * len(arr), 16), *arr.shape[1:]), arr.dtype)
    out[: len(arr)] = arr
    return out


class TickerDay:
    """Trades (deduplicated, in (secs, trade_no) order) and candles (t0 order) of one ticker."""

    def __init__(self) -> None:
        self.n = 0
        self.cols: dict[str, npt.NDArray[Any]] = {k: np.empty(0, t) for k, t in TRADE_COLUMNS.items()}
        self.held: set[int] = set()  # trade numbers held: the first copy of a trade wins (§5)
        self.k = 0
        self.candle_num = np.empty((0, len(CANDLE_COLUMNS)), np.int64)
        self.candle_text: list[str] = []

    def col(self, name: str) -> npt.NDArray[Any]:
        return self.cols[name][: self.n]

    # -- trades ---------------------------------------------------------------------------------
    def fresh(self, trade_nos: npt.NDArray[np.int64]) -> list[int]:
        """Indices of `trade_nos` (arrival order) that are new trades: not held, not an earlier
        copy in the same batch. Marks them held."""
        out: list[int] = []
        held = self.held
        for i, no in enumerate(trade_nos.tolist()):
            if no not in held:
                held.add(no)
                out.append(i)
        return out

    def insert(self, rows: dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
        """Add new trades (any order); returns their positions in the merged order."""
        m = len(rows["secs"])
        order = np.lexsort((rows["trade_no"], rows["secs"]))
        rows = {k: v[order] for k, v in rows.items()}
        n = self.n
        for k in self.cols:
            self.cols[k] = _grow(self.cols[k], n + m)
        last = (int(self.cols["secs"][n - 1]), int(self.cols["trade_no"][n - 1])) if n else None
        if last is None or (int(rows["secs"][0]), int(rows["trade_no"][0])) > last:
            for k, v in rows.items():  # in order after everything held: the common case
                self.cols[k][n : n + m] = v
            self.n = n + m
            return np.arange(n, n + m, dtype=np.int64)
        # late trades: merge. `mark` follows the rows through the sort to say which are new.
        merged = {k: np.concatenate([self.cols[k][:n], rows[k]]) for k in self.cols}
        perm = np.lexsort((merged["trade_no"], merged["secs"]))
        mark = np.zeros(n + m, bool)
        mark[n:] = True
        for k, v in merged.items():
            self.cols[k][: n + m] = v[perm]
        self.n = n + m
        return np.flatnonzero(mark[perm]).astype(np.int64)

    def tick_stretch(self, new: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int | None]:
        """Positions (trade order) whose side new trades at positions `new` can change, and the
        position of the continuous trade just before them (the tick rule's seed), or None.

        The tick rule's "previous" is the previous continuous trade. A new trade changes its own
        side and the tick of the continuous trade after it; past that, a trade's side can change
        only by inheriting (a zero tick with no order-number side), so the stretch ends before
        the first later continuous trade that decides its own side: an order-number side, or a
        price change against an unchanged previous trade. Everything after it is unchanged."""
        cont = self.col("cont")
        cidx = np.flatnonzero(cont)
        newc = new[cont[new]]
        new_other = new[~cont[new]]  # auction prints: side 0, passed through the rule all the same
        if not len(newc):
            return new_other, None
        ci = np.searchsorted(cidx, newc)
        p, q = int(ci.min()), int(ci.max())
        tail = cidx[q:]
        end = len(cidx)
        if len(tail) > 1:
            price = self.cols["price"][tail]
            rule = self.cols["rule_side"][tail]
            # tail[0] is the last new trade; tail[1] follows it (its tick changed: only its own
            # order-number side stops the stretch); from tail[2] on a price change stops it too
            stop = rule != RULE_NULL
            stop[2:] |= price[2:] != price[1:-1]
            stop[0] = False
            hits = np.flatnonzero(stop)
            if len(hits):
                end = q + int(hits[0])
        stretch = cidx[p:end]
        seed = int(cidx[p - 1]) if p > 0 else None
        return np.sort(np.concatenate([stretch, new_other])), seed

    def minute_positions(self, minutes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Positions of every trade in the given minutes (t0 values)."""
        t0 = self.col("t0")
        lo = np.searchsorted(t0, minutes, "left")
        hi = np.searchsorted(t0, minutes, "right")
        if not len(lo):
            return np.empty(0, np.int64)
        return np.concatenate(
            [np.arange(a, b, dtype=np.int64) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
        )

    # -- candles --------------------------------------------------------------------------------
    def put_candle(self, candle: dict[str, Any], text: str) -> bool:
        """Store one §6 candle (its numbers and its line); False when it is unchanged."""
        t0 = int(candle["t0"])
        times = self.candle_num[: self.k, 0]
        i = int(np.searchsorted(times, t0))
        o = candle["ohlc"]
        row = (t0, o["o"], o["h"], o["l"], o["c"], candle["vol"], candle["delta"])
        if i < self.k and int(times[i]) == t0:
            if self.candle_text[i] == text:
                return False
            self.candle_num[i] = row
            self.candle_text[i] = text
            return True
        self.candle_num = _grow(self.candle_num, self.k + 1)
        self.candle_num[i + 1 : self.k + 1] = self.candle_num[i : self.k].copy()
        self.candle_num[i] = row
        self.candle_text.insert(i, text)
        self.k += 1
        return True

    def candles(self) -> npt.NDArray[np.int64]:
        return self.candle_num[: self.k]

    def newest_t0(self) -> int | None:
        return int(self.candle_num[self.k - 1, 0]) if self.k else None
