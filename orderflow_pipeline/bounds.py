"""The one set of input bounds (SPEC §5 trade tape, §6 footprint candle), owned here and nowhere else.

Why one module: the tape parser (where a trade enters) and the candle validator (where an hour
file enters the warehouse) must agree, or one wild trade is accepted by the first and makes the
second reject the whole minute it was aggregated into — costing every good trade of that minute
(issue 16). The rule is: the tape layer rejects the smallest unit (one line) against the per-trade
bounds below, and the candle bounds are *derived* from them so that no candle the footprint layer
builds from accepted trades can ever exceed them.

The per-trade bounds are generous sanity limits, not market rules: they reject corrupt feed data
(a 15-digit price, shifted fields), never a real trade. The one market rule kept here is the IDX
daily price band around the previous close (issue 29), widened by a stated margin for the same
reason, and owned here so that the tape and the outcomes' entry check (issue 27) share it.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final, Literal

INT64_MAX: Final = 2**63 - 1
"""Largest value of a DuckDB BIGINT / numpy int64: every lot count and order number is stored as one."""

PRICE_MIN: Final = 1
"""Prices are positive IDR integers (SPEC §6: prices > 0)."""

PRICE_MAX: Final = 2**31 - 1
"""Largest price (IDR) of a trade, and therefore of a candle's OHLC and of a level.

Why 2^31 − 1: the warehouse stores prices in INTEGER (int32) columns (`footprint_1m.open..close`,
`footprint_levels.price`). The dearest IDX share trades in the hundreds of thousands of IDR, four
orders of magnitude below. A candle's prices are trade prices (o/h/l/c and levels are each one
accepted trade's price), so the same bound holds for candles with no derivation needed.
"""

TRADE_NO_MAX: Final = 10**12 - 1
"""Largest trade number ([5]); at most 12 decimal digits.

Why: trades are ordered by (trade time, trade number), packed into one int64 key
`secs * 10^12 + trade_no` (footprint aggregation: first/last trade of a minute). With
secs < 86,400 the key stays below 8.64e16 < 2^63 only while trade_no < 10^12. Real trade numbers
are a per-day counter of a few million. It also bounds how many distinct trades one ticker can have
in one minute (trades are unique per (date, ticker, trade number)): at most TRADE_NO_MAX + 1.
"""

LOTS_MIN: Final = 1
"""A trade moves at least one lot (SPEC §5: volume is a positive integer)."""

LOTS_PER_TRADE_MAX: Final = 10**6
"""Largest volume (lots) of one regular-board trade.

Why 10^6: IDX caps an order on the regular market at 50,000 lots, so no regular-board trade can
be larger; 10^6 leaves 20x headroom for a rule change while keeping every candle sum far from
int64 overflow (see CANDLE_LOTS_MAX). Negotiated / cash board prints (NG, TN) are not order flow
and are excluded before aggregation, so they are not held to it: a block crossing can legitimately
be far larger (they still must be a positive integer of at most 15 digits).
"""

TRADES_PER_MINUTE_MAX: Final = TRADE_NO_MAX + 1
"""Most distinct regular-board trades one ticker can have in one minute: one per trade number."""

CANDLE_LOTS_MAX: Final = TRADES_PER_MINUTE_MAX * LOTS_PER_TRADE_MAX
"""Largest `vol` (and any level's `bv`/`av`) of a one-minute candle: 10^18.

Why derived, not chosen: a candle's `vol` is the sum of its minute's accepted trades, each at most
LOTS_PER_TRADE_MAX lots, and a minute has at most TRADES_PER_MINUTE_MAX of them, so no candle the
footprint layer builds can exceed this product — the warehouse's validator can therefore never
reject a tape-built candle for its volume. The product (10^18) is below INT64_MAX (~9.22e18), so
every minute sum is exact in int64 (DuckDB BIGINT, numpy) and `sum(bv) + sum(av)` of a valid
candle (each ≤ vol) cannot overflow either. Upstream-landed files are held to the same bound.
"""

ORDER_NO_MAX: Final = INT64_MAX
"""Largest order number ([13], [14]): a non-negative integer that fits a BIGINT.

Why: only zero / non-zero matters for the aggressor rule (SPEC §5), but a value that is not an
integer or does not fit int64 means a corrupt or shifted line. Before this bound such a value
silently became 0 and sent the trade to the tick rule; now the line is quarantined with its reason.
"""

# Guard the derivations: if someone raises a bound, the int64 arguments above must still hold.
if CANDLE_LOTS_MAX > INT64_MAX // 2:  # sum(bv) + sum(av) of a valid candle must fit int64
    raise AssertionError("CANDLE_LOTS_MAX too large: candle lot sums must stay exact in int64")
if 86_400 * (TRADE_NO_MAX + 1) + TRADE_NO_MAX > INT64_MAX:
    raise AssertionError("TRADE_NO_MAX too large: the (secs, trade_no) order key must fit int64")


def fast_digits(limit: int) -> int:
    """How many decimal digits a number may have and still be certainly <= `limit`.

    Why: the tape's one-regex fast path accepts a field by its digit count alone (no cast); a
    number with more digits goes to the slow path, which compares the exact value.
    """
    return len(str(limit)) - 1


# -- the IDX tick table (price fractions, in force since 2016) -------------------------------------

TICK_EDGES: Final = (200, 500, 2000, 5000)
TICKS: Final = (1, 2, 5, 10, 25)
"""price < 200 -> 1, 200-<500 -> 2, 500-<2000 -> 5, 2000-<5000 -> 10, >= 5000 -> 25. The one copy:
the volume profile's "one tick", the simulator's grid and the outcomes' half-tick spread use it."""


def tick_size(price: int) -> int:
    """The IDX tick of prices at and above `price` within its band."""
    return TICKS[bisect_right(TICK_EDGES, price)]


# -- the IDX daily price band (SPEC §5 field [12], §17) ------------------------------------------

ARA_TIERS: Final = ((199, 35), (5_000, 25))
"""Auto-rejection above (ARA), in % of the previous close: +35 % below Rp200, +25 % for Rp200–5,000
(each tier up to and including its price), and ARA_TOP_PCT above."""
ARA_TOP_PCT: Final = 20
ARB_PCT: Final = 15
"""Auto-rejection below (ARB) since April 2025: −15 % of the previous close at every price."""

BAND_MARGIN: Final = 2
"""How far a trade may lie outside the board's band before the tape calls it corrupt: its price may
differ from the previous close by up to (1 + BAND_MARGIN × ARA) either way, plus one IDR.

Why this margin: the check exists to catch corrupt prices (999,999,999 for a 2,210-IDR share, a
shifted field, a price in another unit), which miss the band by orders of magnitude; rejecting a
real trade would silently cost order flow, so the margin is wide. 2× the ARA covers a
corporate-action day whose reference price the feed's [12] does not reflect and a stock moving
across a tier; taken either way in ratio (÷1.7, ÷1.5, ÷1.4 = −41/−33/−29 %) it also covers the
symmetric ARB the board applied before April 2025 (−35/−25/−20 %), so a backfill of older tape and
the simulator (which draws within ±ARA) are never judged wrong; one IDR more lets a 1–2 IDR stock
move one tick. Only share codes (four letters) are judged: rights (`-R`), warrants (`-W`) and
structured warrants trade at a fraction of their underlying, where one 1-IDR tick is 10 % or more.
"""

SHARE_CODE_PATTERN: Final = "[A-Z]{4}"


def ara_pct(prev_close: int) -> int:
    """The ARA of a previous close, in % (SPEC §17)."""
    for top, pct in ARA_TIERS:
        if prev_close <= top:
            return pct
    return ARA_TOP_PCT


def auto_rejection_band(prev_close: int) -> tuple[int, int]:
    """The board's own [ARB, ARA] limits in whole IDR (lowest and highest price it accepts), before
    snapping to the tick grid: ceil(prev × (1 − ARB)) .. floor(prev × (1 + ARA)). For issue 27's
    "entry at the auto-rejection limit" check; the tape judges trades by `plausible_price_range`."""
    lo = -(-prev_close * (100 - ARB_PCT) // 100)
    return lo, prev_close * (100 + ara_pct(prev_close)) // 100


Limit = Literal["ARA", "ARB"]


def limit_prices(prev_close: int) -> tuple[int, int]:
    """The lowest and highest prices an order can actually trade at for a previous close: the
    `auto_rejection_band` snapped inward to the tick grid (the ARB price rounded up to its band's
    tick, the ARA price rounded down). E.g. 1,010: the band 858.5..1,262.5 is 859..1,262 in whole IDR,
    860..1,260 on the 5-IDR grid; 150 (ARA 35 %): 127.5..202.5 -> 128..202 (both on their grid)."""
    lo, hi = auto_rejection_band(prev_close)
    lo_t = tick_size(lo)
    hi_t = tick_size(hi)
    lo = -(-lo // lo_t) * lo_t
    hi = hi // hi_t * hi_t
    return max(PRICE_MIN, lo), hi


def limit_at(prev_close: int | None, price: int | None) -> Limit | None:
    """ "ARA" when `price` is at (or past) the highest tradable price of the day for this previous
    close, "ARB" at (or past) the lowest, else None (also when either is unknown or not a price).

    Issue 27: an entry there cannot be filled on its side — at ARA only buyers queue (a buy
    signal cannot be entered), at ARB only sellers (nor a sell signal). The summary item's `lim`
    is its last price on D against the previous session's close; the outcomes' `lim_next` the
    next session's open against close(D)."""
    if not prev_close or not price or prev_close < PRICE_MIN or price < PRICE_MIN:
        return None
    lo, hi = limit_prices(prev_close)
    if price >= hi:
        return "ARA"
    if price <= lo:
        return "ARB"
    return None


def plausible_price_range(prev_close: int) -> tuple[int, int]:
    """The lowest and highest trade price the tape accepts for a previous close (see BAND_MARGIN).

    Exact integer arithmetic with f = 100 + BAND_MARGIN × ARA: hi = floor(prev × f / 100) + 1,
    lo = ceil(prev × 100 / f) − 1 (at least PRICE_MIN). `plausible_price_range_sql` is the same
    formula for DuckDB; tests/test_input_faults.py checks that the two agree."""
    f = 100 + BAND_MARGIN * ara_pct(prev_close)
    return max(PRICE_MIN, -(-prev_close * 100 // f) - 1), prev_close * f // 100 + 1


def plausible_price_range_sql(prev: str) -> tuple[str, str]:
    """(lo, hi) of `plausible_price_range` as DuckDB expressions of the BIGINT column `prev`."""
    f = (
        "(CASE "
        + " ".join(f"WHEN {prev} <= {top} THEN {100 + BAND_MARGIN * pct}" for top, pct in ARA_TIERS)
        + f" ELSE {100 + BAND_MARGIN * ARA_TOP_PCT} END)"
    )
    return f"greatest({PRICE_MIN}, ({prev} * 100 + {f} - 1) // {f} - 1)", f"{prev} * {f} // 100 + 1"


def band_judged_sql(ticker: str, prev: str) -> str:
    """Whether a trade is judged by the band: a share code with a previous close that is a price
    (a missing, zero or out-of-bounds [12] says nothing about the trade, so it is not judged)."""
    return f"(regexp_full_match({ticker}, '{SHARE_CODE_PATTERN}') AND {prev} BETWEEN {PRICE_MIN} AND {PRICE_MAX})"
