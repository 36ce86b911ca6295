"""Liquidity floor and instrument kinds (issue 27): which summary items a trader can act on.

Why: the scanner ranks every ticker with a candle, and the names that lead a raw ranking are
the thinnest — a structured warrant with 3 lots traded scores delta +100% and a BREAKOUT label
from one print. Order flow means something only where enough money trades, and for the
instrument the signals were designed for (shares). So every §10 item carries two facts, its
estimated traded value `val` and its instrument kind `ins`, and a `Filter` (floor in rupiah plus
the kinds to keep) decides what a ranking shows. The document itself still holds every ticker in
§10's order (one item per ticker with a candle, sorted by score): the filter is a reader's view —
the dashboard's default, `liquid_items` for a top list, the outcomes report's `liquidity`
parameter — so changing the floor never rewrites a summary file.

Instrument kind from the ticker's form alone (no listing data is needed, and the rules hold for
every code of the real 1,234-ticker snapshot `fixtures/real/idx_daily_snapshot.csv`):

- share: exactly 4 letters (864 codes: AADI, BBCA, ...) — except ETFs (below);
- etf: 4 letters starting with X (22 codes: XIIT, XCLQ, XBLQ, ...): IDX gives exchange-traded funds
  X-codes and no listed company one, and their flow is a market maker's, not investors';
- structured_warrant: 4-letter underlying + 2-letter issuer + C/P (call/put) + expiry month letter
  + year digit + series letter, 10 characters (353 codes: AADIBQCQ6A, GJTLZPCJ6A, ADROHDPH6A);
  median traded value Rp 4.8 M in the snapshot, one above Rp 500 M;
- warrant: the share's code + `-W` or `-W<n>` (16 codes: CSIS-W, INET-W2);
- right: the share's code + `-R` (IDX's HMETD codes, e.g. BBKP-R; none was trading that day);
- other: anything else (a code §7's pattern admits that none of the above explains).

`val` is estimated from the candles, Σ over minutes of vol × close × 100 (lots are 100 shares):
the candles keep no per-trade value, and within one minute the price moves a tick or two, well
inside the floor's precision (Rp 500 M default, `ORDERFLOW_MIN_TRADED_VALUE`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Instrument = Literal["share", "etf", "structured_warrant", "warrant", "right", "other"]
INSTRUMENTS: tuple[Instrument, ...] = ("share", "etf", "structured_warrant", "warrant", "right", "other")
DEFAULT_KINDS: tuple[Instrument, ...] = ("share",)

# rupiah traded by a ticker over a set of candles (per-minute rows with vol and close, §7)
TRADED_VALUE_SQL = "(sum(vol * close) * 100)::BIGINT"

_FORMS: tuple[tuple[re.Pattern[str], Instrument], ...] = (
    (re.compile(r"X[A-Z]{3}"), "etf"),
    (re.compile(r"[A-Z]{4}"), "share"),
    (re.compile(r"[A-Z]{4}[A-Z]{2}[CP][A-Z][0-9][A-Z]"), "structured_warrant"),
    (re.compile(r"[A-Z]{4}-W[0-9]?"), "warrant"),
    (re.compile(r"[A-Z]{4}-R"), "right"),
)


def instrument(ticker: str) -> Instrument:
    """The instrument kind of an IDX code, from its form (the module docstring says why)."""
    for form, kind in _FORMS:
        if form.fullmatch(ticker):
            return kind
    return "other"


def parse_kinds(text: str) -> tuple[Instrument, ...]:
    """`share,warrant` -> the kinds; ValueError naming the unknown one (a user's typo)."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in INSTRUMENTS]
    if bad or not kinds:
        raise ValueError(
            f"unknown instrument kind {', '.join(bad) or repr(text)}: use {', '.join(INSTRUMENTS)}"
        )
    return tuple(k for k in INSTRUMENTS if k in kinds)


@dataclass(frozen=True)
class Filter:
    """Keep an item when its kind is in `kinds` and its traded value is at least `min_value` (Rp)."""

    min_value: int
    kinds: tuple[Instrument, ...] = field(default=DEFAULT_KINDS)

    def keeps(self, ticker: str, value: int | None) -> bool:
        """A value unknown (a summary file of an older version) fails the floor: the filter
        cannot vouch for it."""
        return instrument(ticker) in self.kinds and value is not None and value >= self.min_value

    def as_dict(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "kinds": list(self.kinds)}


Item = TypeVar("Item", bound=Mapping[str, Any])


def liquid_items(items: Iterable[Item], flt: Filter) -> list[Item]:
    """The items `flt` keeps, in their order (§10's ranking: score descending, then ticker)."""
    return [i for i in items if flt.keeps(str(i["t"]), i.get("val"))]
