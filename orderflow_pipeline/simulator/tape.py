"""The trade tape of one day as the feed writes it: pipe lines in JSON envelopes, filed by receipt hour.

Realism the pipeline must cope with, on purpose: trade numbers increase market-wide through the
day (as in the real tape); `ts` = trade time + a receipt lag, and objects are filed by the UTC
hour of *receipt*, so trades of the last second of an hour land in the next hour's folder; about
one object per 10 minutes, named `{flush_ms}_{count}.jsonl` like the real
`1771380009443_386.jsonl` (flush time after its last line); about 0.05% of lines replayed a
second time by a "reconnect" (same raw line, later `ts`).

Serialisation is pyarrow compute over whole columns: no Python loop per trade, which is what lets
`make bench` write the full market (~940k prints) in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from orderflow_pipeline.simulator.regimes import DayPlan
from orderflow_pipeline.simulator.trades import BOARDS, TickerDay
from orderflow_pipeline.storage.keys import WIB

REPLAY_SHARE = 0.0005  # share of lines a "reconnect" sends twice
OBJECT_MINUTES = 10  # one object per this many minutes of receipt time

_PREFIX = '{"v":2,"fmt":"pipe","src":"ipot_ws","raw":"'

IntArray = npt.NDArray[np.int64]


def _str(x: npt.ArrayLike, pad: int = 0) -> pa.Array:
    """Decimal strings of int64s (Arrow's cast), zero-padded to `pad` characters when asked."""
    out = pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.large_string())
    return pc.utf8_lpad(out, pad, "0") if pad else out


def pipe_lines(
    tickers: pa.Array,
    tick_idx: npt.NDArray[np.int32],
    ms: IntArray,
    board: npt.NDArray[np.int8],
    trade_no: IntArray,
    price: IntArray,
    lots: IntArray,
    prev: IntArray,
    o13: IntArray,
    o14: IntArray,
    chg_prev: IntArray,
    avg: IntArray,
    ts: IntArray,
) -> pa.LargeStringArray:
    """One envelope line (newline included) per print: the 20 pipe fields of SPEC §5 in `raw`."""
    sec = ms // 1000
    hhmmss = (sec // 3600) * 10000 + (sec // 60 % 60) * 100 + sec % 60
    pct = np.trunc((price - prev) * 100.0 / prev).astype(np.int64)

    def order(x: IntArray) -> pa.Array:
        return pc.if_else(pa.array(x == 0), pa.scalar("00", pa.large_string()), _str(x))

    fields = [
        "B",
        _str(hhmmss, 6),
        "0",
        pc.cast(tickers.take(pa.array(tick_idx)), pa.large_string()),
        pa.array(BOARDS, pa.large_string()).take(pa.array(board)),
        _str(trade_no, 6),
        _str(price),
        _str(lots),
        "--",
        "-",
        "--",
        "-",
        _str(prev),
        order(o13),
        order(o14),
        _str(price - prev),
        _str(chg_prev),
        _str(avg),
        _str(pct),
        "1",
    ]
    cols = [pa.scalar(c, pa.large_string()) if isinstance(c, str) else c for c in fields]
    raw = pc.binary_join_element_wise(*cols, pa.scalar("|", pa.large_string()))
    return pc.binary_join_element_wise(
        pa.scalar(_PREFIX, pa.large_string()),
        raw,
        pa.scalar('","ts":', pa.large_string()),
        _str(ts),
        pa.scalar(',"ts_quality":"ingestion"}\n', pa.large_string()),
        pa.scalar("", pa.large_string()),
    )


def slice_bytes(arr: pa.LargeStringArray, a: int, b: int) -> bytes:
    """Lines a..b-1 as one bytes object, straight from the Arrow data buffer (no per-line join)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    out: bytes = arr.buffers()[2][int(offsets[a]) : int(offsets[b])].to_pybytes()
    return out


def _utc_ms(d: date) -> int:
    """Epoch ms of the WIB midnight that starts `d`."""
    return int(datetime(d.year, d.month, d.day, tzinfo=WIB).timestamp() * 1000)


@dataclass(frozen=True)
class DayTape:
    """The `raw_lt/` objects of one day (key -> bytes) and how many prints they hold."""

    objects: dict[str, bytes]
    trades: int  # unique prints
    replayed: int  # extra copies sent by reconnects


def day_tape(
    d: date, tickers: list[str], parts: list[tuple[int, TickerDay]], plan: DayPlan, seed: int
) -> DayTape:
    """Number, timestamp, replay and file every print of the day (`parts`: universe column, trades)."""
    if not parts:
        return DayTape({}, 0, 0)
    tick_idx = np.concatenate([np.full(len(td.ms), j, dtype=np.int32) for j, td in parts])

    def cat(name: str) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = np.concatenate([getattr(td, name) for _, td in parts])
        return out

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
    lines = pipe_lines(
        pa.array(tickers),
        tick_idx[by_ts],
        ms[by_ts],
        board[by_ts],
        trade_no[by_ts],
        price[by_ts],
        lots[by_ts],
        prev[by_ts],
        o13[by_ts],
        o14[by_ts],
        chg_prev[by_ts],
        avg[by_ts],
        ts_sorted,
    )
    bucket = ts_sorted // (OBJECT_MINUTES * 60_000)
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    bounds = np.concatenate(([0], cuts, [len(bucket)]))
    flush = rng.integers(50, 600, len(bounds) - 1)
    objects: dict[str, bytes] = {}
    for k in range(len(bounds) - 1):
        a, b = int(bounds[k]), int(bounds[k + 1])
        hour = datetime.fromtimestamp(int(ts_sorted[a]) // 1000, tz=timezone.utc)
        name = f"{int(ts_sorted[b - 1]) + int(flush[k])}_{b - a}.jsonl"
        objects[f"raw_lt/{hour:%Y/%m/%d/%H}/{name}"] = slice_bytes(lines, a, b)
    return DayTape(objects, int(n_trades), int(n_replays))
