"""Aggressor quality (issue 27): how each trade's side was decided, and how far the two rules agree.

Why: every delta, score and signal rests on the buyer/seller split of §5. A trader (or a referee)
asks how much of it came from the exchange's own order numbers ([13]/[14]) and how much from the
tick-rule fallback, how much stayed neutral (auction prints), and whether the order-number side is
believable at all. The standard figure for that is the agreement of a classifier with a reference
where both give an answer (Lee–Ready: 81–85% on US data); here the tick rule is checked against
the order-number side.

Nothing here classifies: the counts are read off the footprint layer's own tables after
`tape.load_tape` (`fp_u`: the order-number side before the tick rule; `fp_trades`: the side the
candles use), and the tick direction uses the layer's `tape.tick_sql` over its `tape.TICK_WINDOW`.
Two agreement figures, both over continuous trades that have an order-number side:

- `moved`: trades whose price differs from the ticker's previous continuous trade (§5's "45 of
  the 49 trades where the price moved" is this figure on the real sample);
- `tick_rule`: the plain tick rule with a zero tick inheriting the previous tick's direction (the
  Lee–Ready test's form), over every trade where that rule has an answer.

A full build (`build_footprint` of a date read whole) reports the day; an incremental run reports
the ticker-hours it rebuilt (`scope`), where a rebuilt hour's first trade has no previous one in
the run. `measure_day` always reads the date's whole tape, as the CLI and the API do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

import duckdb

from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.storage.lake import Blob, Lake

Scope = Literal["day", "rebuilt ticker-hours", "tickers"]

# The final side comes from `fp_trades` by count, not by a join per trade: each row of `fp_u` is
# one row of `fp_trades` (dedupe keeps one per ticker and trade number), a trade with an
# order-number side keeps it as its final side, so "side from the tick rule" is every non-zero
# final side less those. The join cost more than the two windows (0.2 us a trade of 0.8).
_MEASURE_SQL = f"""
WITH u AS (
  SELECT ticker, trade_no, secs, cont, rule_side,
         {tape.tick_sql("price", f"lag(price) OVER ({tape.TICK_WINDOW})")} AS tick
  FROM {tape.UNIQUE_VIEW}
), w AS (
  SELECT *, CASE WHEN cont THEN last_value(tick IGNORE NULLS) OVER (
    {tape.TICK_WINDOW} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END AS tick_rule
  FROM u
), m AS (
  SELECT count(*) AS n,
         count(*) FILTER (WHERE rule_side IN (1, -1)) AS numbered,
         count(*) FILTER (WHERE NOT cont) AS auction,
         count(*) FILTER (WHERE rule_side IN (1, -1) AND tick IS NOT NULL) AS moved,
         count(*) FILTER (WHERE rule_side IN (1, -1) AND tick = rule_side) AS moved_agree,
         count(*) FILTER (WHERE rule_side IN (1, -1) AND tick_rule IS NOT NULL) AS ticked,
         count(*) FILTER (WHERE rule_side IN (1, -1) AND tick_rule = rule_side) AS ticked_agree
  FROM w
), s AS (
  SELECT count(*) FILTER (WHERE side <> 0) AS sided, count(*) FILTER (WHERE cont AND side = 0) AS undetermined
  FROM {tape.TRADES_TABLE}
)
SELECT n, numbered, sided - numbered, auction, undetermined, moved, moved_agree, ticked, ticked_agree
FROM m, s
"""


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class AggressorQuality:
    """One date's counts (regular-board trades after dedupe, as the candles count them)."""

    date: str
    scope: Scope
    trades: int
    order_numbers: int  # side from [13]/[14]
    tick_rule: int  # both or neither set, continuous session: side from the tick rule
    auction: int  # outside the continuous sessions: neither buy nor sell (§5)
    undetermined: int  # continuous, tick rule without an earlier price or side: neutral
    moved: int  # order-number trades whose price moved from the previous trade
    moved_agree: int  # ... of which the tick direction is the order-number side
    ticked: int  # order-number trades where the tick rule (zero tick inherits) has an answer
    ticked_agree: int

    @property
    def unclassified(self) -> int:
        return self.auction + self.undetermined

    def as_dict(self) -> dict[str, Any]:
        """The report: counts, each category's share of the trades, and the two agreement rates."""
        n = self.trades
        return {
            **asdict(self),
            "unclassified": self.unclassified,
            "share": {
                "order_numbers": _share(self.order_numbers, n),
                "tick_rule": _share(self.tick_rule, n),
                "unclassified": _share(self.unclassified, n),
            },
            "agreement": {
                "moved": _share(self.moved_agree, self.moved),
                "tick_rule": _share(self.ticked_agree, self.ticked),
            },
        }

    def as_text(self) -> str:
        """A few lines for a terminal (`orderflow aggressor-quality --text`)."""
        d = self.as_dict()

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v * 100:.1f}%"

        s, a = d["share"], d["agreement"]
        return "\n".join([
            f"aggressor quality {self.date} ({self.scope}): {self.trades} trades",
            f"  side from order numbers  {self.order_numbers:>8}  {pct(s['order_numbers']):>7}",
            f"  side from the tick rule  {self.tick_rule:>8}  {pct(s['tick_rule']):>7}",
            f"  unclassified             {self.unclassified:>8}  {pct(s['unclassified']):>7}"
            f"  (auction {self.auction}, no earlier tick {self.undetermined})",
            f"  order numbers vs tick rule, price moved: {self.moved_agree}/{self.moved} = {pct(a['moved'])}",
            f"  order numbers vs tick rule (zero tick inherits): {self.ticked_agree}/{self.ticked}"
            f" = {pct(a['tick_rule'])}  (Lee–Ready on US data: 81–85%)",
        ])  # fmt: skip


def measure(con: duckdb.DuckDBPyConnection, d: date | str, scope: Scope = "day") -> AggressorQuality:
    """The counts over the trades `tape.load_tape` left in `con`."""
    row = con.execute(_MEASURE_SQL).fetchone()
    assert row is not None  # an aggregate without GROUP BY always answers one row
    n = [int(x) for x in row]
    return AggressorQuality(as_date(d).isoformat(), scope, *n)


def measure_day(lake: Lake, d: date | str) -> AggressorQuality:
    """The counts over date d's whole tape in the lake (no file is written, nothing quarantined:
    the footprint build owns that). An unreadable object counts as no trades, as in the build."""
    d = as_date(d)
    listing = list(tape_objects(lake, d))
    blobs = lake.map_many(listing)
    bodies: list[Blob] = []
    for key in listing:  # the build's order: of a replayed trade the first copy counts (§5)
        if key not in blobs:  # vanished between list and read
            continue
        try:
            bodies.append(tape.object_text(key, blobs[key]))
        except tape.BadObject:
            bodies.append(b"")
    con = duckdb.connect()
    try:
        tape.load_tape(con, d, bodies)
        return measure(con, d)
    finally:
        con.close()
