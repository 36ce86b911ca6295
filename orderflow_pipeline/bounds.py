"""The one set of input bounds (SPEC §5 trade tape, §6 footprint candle), owned here and nowhere else.

Why one module: the tape parser (where a trade enters) and the candle validator (where an hour
file enters the warehouse) must agree, or one wild trade is accepted by the first and makes the
second reject the whole minute it was aggregated into — costing every good trade of that minute
(issue 16). The rule is: the tape layer rejects the smallest unit (one line) against the per-trade
bounds below, and the candle bounds are *derived* from them so that no candle the footprint layer
builds from accepted trades can ever exceed them.

The per-trade bounds are generous sanity limits, not market rules: they reject corrupt feed data
(a 15-digit price, shifted fields), never a real trade.
"""

from __future__ import annotations

from typing import Final

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
