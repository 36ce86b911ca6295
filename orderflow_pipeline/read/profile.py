"""Volume profile (POC, value area) and diagonal / stacked imbalances: pure functions over §6 levels.

Why one module: the API's raw history (per candle and per day), the dashboard's footprint chart and
any later range view must mark the same POC and the same imbalances; each rule lives here once.

Rules (issue 21):

* Volume at a price = `bv + av` (the classified lots of §6 levels; auction lots carry no side and
  are not in the levels, so they are not in the profile either).
* POC = the price with the most volume; ties -> the lower price.
* Value area = 70% of the profile's volume, grown outward from the POC one tick at a time: of the
  next price above and the next price below, the one with more volume is added first; ties -> the
  higher price; when one side is exhausted the other is taken. It stops as soon as the area holds
  at least 70% (compared in integers: `10 * area >= 7 * total`, no float edge). VAH/VAL are its
  highest and lowest prices.
* Diagonal imbalance (the footprint convention: a buyer lifting the offer at p is compared with the
  seller hitting the bid one tick lower): buy at p when `bv(p) >= ratio * av(p - 1 tick)`, sell at
  p when `av(p) >= ratio * bv(p + 1 tick)`, and both compared sides >= `min_lots`. Defaults: ratio
  3, min 1 lot. Stacked = 3 or more consecutive prices (one tick apart) with an imbalance of the
  same side.

What "one tick" is: the IDX price grid (tick table below), not the candle's own level list. The
level list holds only prices that traded, so its neighbour may be several ticks away; treating that
as "one tick" would compare volumes that are not adjacent and would call a gap "consecutive" in a
stack. On the exchange grid a price nobody traded is simply a level with 0 lots: it fails the
minimum-volume test (no imbalance across a gap, and a gap breaks a stack) and adds nothing to the
value area. The ladder a profile walks is the grid prices between its lowest and highest level plus
the level prices themselves, so an off-grid price (an upstream file, a past tick table) still has
neighbours and nothing is dropped; for on-grid data the ladder is exactly the IDX grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

# The IDX tick table is a market rule, owned by bounds.py (the outcomes' spread model uses it too).
from orderflow_pipeline.bounds import TICK_EDGES, TICKS, tick_size

VALUE_AREA_NUM, VALUE_AREA_DEN = 7, 10  # 70% of the volume, as an exact fraction
IMBALANCE_RATIO = 3.0
IMBALANCE_MIN_LOTS = 1
STACK_MIN = 3  # consecutive imbalanced prices that make a stack
MAX_LADDER_RUNGS = 20_000

Side = Literal["buy", "sell"]


def tick_up(price: int) -> int:
    """The next valid price above `price` (500 -> 505: the band of 500 itself)."""
    return price + tick_size(price)


def grid_rungs(lo: int, hi: int) -> int:
    """How many IDX grid prices lie in [lo, hi] (arithmetic per tick band, no walk)."""
    edges = (0, *TICK_EDGES, max(hi, TICK_EDGES[-1]) + 1)
    n = 0
    for (a, b), t in zip(zip(edges, edges[1:], strict=False), TICKS, strict=True):
        first, last = max(lo, a), min(hi, b - 1)
        if first <= last:
            n += last // t - (first - 1) // t
    return n


def ladder(prices: Iterable[int]) -> list[int]:
    """Every IDX grid price from the lowest to the highest of `prices`, plus `prices` themselves.

    Above MAX_LADDER_RUNGS grid prices (a day's range is a few hundred ticks; only a corrupt but
    in-bounds price can span millions) the ladder is the traded prices alone, so one wild level
    cannot make a request walk millions of empty ticks."""
    ps = sorted(set(prices))
    if not ps:
        return []
    if grid_rungs(ps[0], ps[-1]) > MAX_LADDER_RUNGS:
        return ps
    out = set(ps)
    p = ps[0]
    # start from the first grid price at or above the lowest level
    t = tick_size(p)
    p = -(-p // t) * t
    while p <= ps[-1]:
        out.add(p)
        p = tick_up(p)
    return sorted(out)


# -- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelVolume:
    """Buyer- and seller-initiated lots at one price."""

    bv: int = 0
    av: int = 0

    @property
    def vol(self) -> int:
        return self.bv + self.av


def levels_by_price(levels: Iterable[Mapping[str, Any]]) -> dict[int, LevelVolume]:
    """§6 levels (`{"p","bv","av"}`, any order, repeats summed) as price -> volumes."""
    out: dict[int, list[int]] = {}
    for lv in levels:
        acc = out.setdefault(int(lv["p"]), [0, 0])
        acc[0] += int(lv["bv"])
        acc[1] += int(lv["av"])
    return {p: LevelVolume(bv, av) for p, (bv, av) in out.items()}


def merge_levels(candles: Iterable[Mapping[str, Any]]) -> dict[int, LevelVolume]:
    """The levels of many candles summed by price (a day's or a range's profile)."""
    return levels_by_price(lv for c in candles for lv in c.get("levels") or ())


# -- volume profile -------------------------------------------------------------------------------


class Profile(TypedDict):
    poc: int
    vah: int
    val: int
    poc_bv: int
    poc_av: int
    total: int  # Σ(bv + av) over the profile
    va_vol: int  # volume inside the value area


def volume_profile(levels: Mapping[int, LevelVolume]) -> Profile | None:
    """POC, VAH/VAL (70%) and the buy/sell lots at the POC; None for a profile without volume."""
    total = sum(v.vol for v in levels.values())
    if total <= 0:
        return None
    poc = min(levels, key=lambda p: (-levels[p].vol, p))  # most volume, ties -> lower price
    rungs = ladder(levels)
    vol = [levels[p].vol if p in levels else 0 for p in rungs]
    lo = hi = rungs.index(poc)
    area = vol[lo]
    while VALUE_AREA_DEN * area < VALUE_AREA_NUM * total:
        up = vol[hi + 1] if hi + 1 < len(rungs) else None
        down = vol[lo - 1] if lo > 0 else None
        if up is not None and (down is None or up >= down):  # larger first; ties -> higher price
            hi += 1
            area += up
        elif down is not None:
            lo -= 1
            area += down
        else:  # pragma: no cover - unreachable: the whole ladder holds 100% >= 70%
            break
    return {
        "poc": poc, "vah": rungs[hi], "val": rungs[lo], "poc_bv": levels[poc].bv,
        "poc_av": levels[poc].av, "total": total, "va_vol": area,
    }  # fmt: skip


# -- imbalances -----------------------------------------------------------------------------------


class Stack(TypedDict):
    side: Side
    lo: int  # lowest price of the run
    hi: int  # highest price of the run
    n: int  # prices in the run (>= STACK_MIN)


class Imbalances(TypedDict):
    buy: list[int]  # prices with a diagonal buy imbalance, ascending
    sell: list[int]
    stacked: list[Stack]


def imbalances(
    levels: Mapping[int, LevelVolume],
    *,
    ratio: float = IMBALANCE_RATIO,
    min_lots: int = IMBALANCE_MIN_LOTS,
    stack_min: int = STACK_MIN,
) -> Imbalances:
    """Diagonal buy/sell imbalances of one candle's levels and their stacks (see the module doc)."""
    rungs = ladder(levels)
    zero = LevelVolume()
    at = [levels.get(p, zero) for p in rungs]
    buy: list[int] = []
    sell: list[int] = []
    buy_flags = [False] * len(rungs)
    sell_flags = [False] * len(rungs)
    for i, p in enumerate(rungs):
        below = at[i - 1] if i > 0 else zero
        above = at[i + 1] if i + 1 < len(rungs) else zero
        if at[i].bv >= min_lots and below.av >= min_lots and at[i].bv >= ratio * below.av:
            buy.append(p)
            buy_flags[i] = True
        if at[i].av >= min_lots and above.bv >= min_lots and at[i].av >= ratio * above.bv:
            sell.append(p)
            sell_flags[i] = True
    stacked = _runs(rungs, buy_flags, "buy", stack_min) + _runs(rungs, sell_flags, "sell", stack_min)
    stacked.sort(key=lambda s: (s["lo"], s["side"]))
    return {"buy": buy, "sell": sell, "stacked": stacked}


def _runs(rungs: Sequence[int], flags: Sequence[bool], side: Side, stack_min: int) -> list[Stack]:
    out: list[Stack] = []
    start: int | None = None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= stack_min:
                out.append({"side": side, "lo": rungs[start], "hi": rungs[i - 1], "n": i - start})
            start = None
    return out


# -- what the API serves --------------------------------------------------------------------------


class ImbalanceCounts(TypedDict):
    ratio: float
    min_lots: int
    buy: int  # diagonal buy imbalances over the day's candles
    sell: int
    stacked_buy: int  # stacks (runs of >= 3), not prices
    stacked_sell: int
    candles_with_stack: int


class DayProfile(Profile):
    levels: list[dict[str, int]]  # the day's levels summed by price, ascending: {p, bv, av}


class CandleFootprint(TypedDict):
    t0: int
    profile: Profile | None
    imbalances: Imbalances


class RawHistExtras(TypedDict):
    profile: DayProfile | None
    footprint: list[CandleFootprint]
    imbalances: ImbalanceCounts


def raw_hist_extras(
    candles: Sequence[Mapping[str, Any]],
    *,
    ratio: float = IMBALANCE_RATIO,
    min_lots: int = IMBALANCE_MIN_LOTS,
) -> RawHistExtras:
    """What `/footprint-raw-hist` adds to a ticker-day's §6 candles: the day's profile, one
    `footprint` entry per candle (same order: its profile and imbalances) and the day's counts.

    The §6 candles themselves stay as they are (the seed's schema, unchanged): the analysis sits
    beside them, keyed by `t0`."""
    per: list[CandleFootprint] = []
    counts: ImbalanceCounts = {"ratio": ratio, "min_lots": min_lots, "buy": 0, "sell": 0,
                               "stacked_buy": 0, "stacked_sell": 0, "candles_with_stack": 0}  # fmt: skip
    for c in candles:
        lv = levels_by_price(c.get("levels") or ())
        imb = imbalances(lv, ratio=ratio, min_lots=min_lots)
        counts["buy"] += len(imb["buy"])
        counts["sell"] += len(imb["sell"])
        counts["stacked_buy"] += sum(1 for s in imb["stacked"] if s["side"] == "buy")
        counts["stacked_sell"] += sum(1 for s in imb["stacked"] if s["side"] == "sell")
        counts["candles_with_stack"] += 1 if imb["stacked"] else 0
        per.append({"t0": int(c["t0"]), "profile": volume_profile(lv), "imbalances": imb})
    return {"profile": day_profile(candles), "footprint": per, "imbalances": counts}


def day_profile(candles: Iterable[Mapping[str, Any]]) -> DayProfile | None:
    """The profile of all `candles` together, with the summed levels (the chart's side profile)."""
    return profile_with_levels(merge_levels(candles))


def range_profile(totals: Iterable[tuple[int, int, int]]) -> DayProfile | None:
    """The profile of (price, bv, av) totals, e.g. a ticker's levels summed over a date range."""
    return profile_with_levels(levels_by_price({"p": p, "bv": b, "av": a} for p, b, a in totals))


def profile_with_levels(merged: Mapping[int, LevelVolume]) -> DayProfile | None:
    """`volume_profile` plus the levels it was computed from, ascending by price."""
    prof = volume_profile(merged)
    if prof is None:
        return None
    levels = [{"p": p, "bv": merged[p].bv, "av": merged[p].av} for p in sorted(merged)]
    return {**prof, "levels": levels}
