"""N-minute bars from §6 1-minute candles, for the dashboard's footprint chart (5 or 15 minutes).

Why on the server: the chart marks each bar's POC and imbalances, and those are rules of
`profile.py`; a 5-minute bar's POC is the POC of its summed levels, not any of its minutes' POCs.
Building the bar here lets `profile.raw_hist_extras` run on it unchanged, so the browser never
recomputes a formula.

A bar keeps the §6 shape: `t0` = the start of its N-minute window (windows are aligned on the
epoch, which is also aligned on the WIB clock: UTC+7 is a whole number of 15-minute steps), `o` =
the first minute's open, `c` = the last minute's close, `h`/`l` the extremes, `vol` and `delta`
summed, levels summed by price (ascending, only prices with volume, as §6 lists them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orderflow_pipeline.layers.summary.documents import Candle, candle
from orderflow_pipeline.read.profile import merge_levels

# Bar lengths the chart offers (minutes); 1 = the §6 candles as stored.
BAR_MINUTES: tuple[int, ...] = (1, 5, 15)
MINUTE_MS = 60_000


def resample(candles: Iterable[Candle], minutes: int) -> list[Candle]:
    """The candles (any order) as bars of `minutes` minutes, ordered by `t0`."""
    if minutes < 1:
        raise ValueError(f"bar length must be >= 1 minute, got {minutes}")
    step = minutes * MINUTE_MS
    groups: dict[int, list[Candle]] = {}
    for c in sorted(candles, key=lambda c: c["t0"]):
        groups.setdefault(c["t0"] - c["t0"] % step, []).append(c)
    return [_bar(t0, group) for t0, group in sorted(groups.items())]


def _bar(t0: int, minutes: Sequence[Candle]) -> Candle:
    levels = merge_levels(minutes)
    return candle(
        t0,
        minutes[0]["ohlc"]["o"],
        max(c["ohlc"]["h"] for c in minutes),
        min(c["ohlc"]["l"] for c in minutes),
        minutes[-1]["ohlc"]["c"],
        sum(c["vol"] for c in minutes),
        sum(c["delta"] for c in minutes),
        ((p, lv.bv, lv.av) for p, lv in sorted(levels.items()) if lv.vol > 0),
    )
