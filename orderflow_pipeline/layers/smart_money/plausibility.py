"""Plausibility of one broker summary (issue 16): the bounds a readable file must also meet.

A file can be valid JSON with numbers in every field and still be impossible: a value of 1e308,
an average price of 1e-300, smart-money buying above the day's traded value. Stored, such a day
puts an `ngr` of 5e11 into twenty later z-score windows. Each rule below is something every real
trading day satisfies, with the tolerance stated and derived; a file that breaks one is
quarantined with an `implausible_*` reason (it never becomes a session, so it never reaches a
window) and named by the `broksum_plausible` check.

What the file offers: `bandar_detector.value` (IDR), `.volume` (shares) and `.average` (the
day's VWAP in whole rupiah), and per broker a value and an average price. It has no day high or
low, so "the day's price range" is bounded with the exchange's own rule (see DAY_RANGE_FACTOR).
"""

from __future__ import annotations

import math

from orderflow_pipeline.bounds import ARA_TIERS, ARA_TOP_PCT, TICKS
from orderflow_pipeline.layers.smart_money.errors import BroksumError

# Integers (IDR values, shares) are exact in a float64 up to 2^53 ≈ 9.0e15. The busiest IDX day
# trades ~3e13 IDR across ~900 names, so one name-day above 2^53 IDR is a corrupt number, never a
# market; the cap also keeps 20-session sums and squares finite and the golden sums exact.
MAX_AMOUNT = float(2**53)

# bandar_detector.average is the day's VWAP, value/volume, rounded to whole rupiah (the real files
# floor it: BBRI 2026-01-22 = 704,230,338,425 / 184,362,058 = 3819.82 -> "3819"). 1 IDR covers the
# rounding; 1 % more admits a feed that computes the average over a slightly different set of
# prints (e.g. without the closing auction). A volume in lots instead of shares (100x), or an
# average of 1e-300, is far outside.
AVERAGE_ROUNDING_IDR = 1.0
AVERAGE_TOLERANCE = 0.01

# IDX auto-rejection (bounds.py owns the table): a regular-board price stays within ±35 % of the
# reference price (the widest band, below Rp200; 25 % and 20 % above; the symmetric band before
# April 2025 is the widest either way). A broker's average and the day's VWAP both lie in that
# day's [low, high], so neither can exceed the other by more than 1.35 / 0.65 ≈ 2.08x. One tick
# (1 IDR, the smallest IDX tick) more covers whole-rupiah averages of 1–2 IDR stocks.
PRICE_BAND = max(ARA_TOP_PCT, *(pct for _, pct in ARA_TIERS)) / 100
DAY_RANGE_FACTOR = (1 + PRICE_BAND) / (1 - PRICE_BAND)
TICK_IDR = float(min(TICKS))

# Every trade has one buying and one selling broker, so each side's broker values add up to the
# day's traded value (exactly so in every real file: Σbval = Σsval = value). 0.1 % admits a feed
# that rounds each broker's value; smart money is a subset of a side, so it is bounded too.
TOTAL_TOLERANCE = 0.001


def day_price_range(vwap: float) -> tuple[float, float]:
    """The widest [low, high] a regular-board day with this VWAP can have (see DAY_RANGE_FACTOR)."""
    return vwap / DAY_RANGE_FACTOR - TICK_IDR, vwap * DAY_RANGE_FACTOR + TICK_IDR


def check_amount(value: float, what: str) -> float:
    """A broker-summary amount (IDR or shares): finite, non-negative, at most MAX_AMOUNT."""
    if not math.isfinite(value):
        raise BroksumError(f"bad_number: {what}={value!r} is not finite")
    if value < 0:
        raise BroksumError(f"implausible_number: {what}={value!r} is negative")
    if value > MAX_AMOUNT:
        raise BroksumError(f"implausible_number: {what}={value!r} exceeds 2^53")
    return value


def check_day(
    *,
    value: float,
    vwap: float,
    volume: float,
    buy_total: float,
    sell_total: float,
    sm_buy: float,
    sm_sell: float,
    price_lo: float,
    price_hi: float,
) -> None:
    """Raise BroksumError(`implausible_*`) unless the day's numbers are mutually consistent.

    `value > 0` (a trading day); `price_lo`/`price_hi` are the lowest/highest broker average
    price of the file (inf/-inf when the file gives none).
    """
    check_amount(value, "bandar_detector.value")
    check_amount(volume, "bandar_detector.volume")
    if not (math.isfinite(vwap) and vwap > 0):
        raise BroksumError(f"implausible_average: bandar_detector.average={vwap!r} is not a positive price")
    if volume <= 0:
        raise BroksumError(f"implausible_volume: value {value:.15g} traded with volume {volume:g}")
    implied = value / volume
    if abs(vwap - implied) > AVERAGE_ROUNDING_IDR + AVERAGE_TOLERANCE * implied:
        raise BroksumError(
            f"implausible_average: bandar_detector.average={vwap:g} but value/volume = {implied:.6g} "
            f"(tolerance 1 IDR + {AVERAGE_TOLERANCE:.0%})"
        )
    lo, hi = day_price_range(vwap)
    if price_lo < lo or price_hi > hi:
        bad = price_lo if price_lo < lo else price_hi
        raise BroksumError(
            f"implausible_broker_average: a broker average price of {bad:g} is outside the day's "
            f"possible range [{lo:.6g}, {hi:.6g}] around the VWAP {vwap:g} (IDX ±{PRICE_BAND:.0%} band)"
        )
    cap = value * (1 + TOTAL_TOLERANCE)
    for side, total in (("brokers_buy", buy_total), ("brokers_sell", sell_total)):
        if total > cap:
            raise BroksumError(
                f"implausible_total: Σ {side} = {total:.15g} exceeds the day's value {value:.15g} "
                f"(+{TOTAL_TOLERANCE:.1%})"
            )
    # Smart money is a subset of each side, so sm_buy and sm_sell are bounded by the totals above;
    # ngr = sm_net / value must still lie in [−1, 1] (SPEC §8) exactly, not within their tolerance.
    if abs(sm_buy - sm_sell) > value:
        raise BroksumError(
            f"implausible_ngr: smart-money net {sm_buy - sm_sell:.15g} exceeds the day's value {value:.15g} "
            "(ngr outside [−1, 1])"
        )
