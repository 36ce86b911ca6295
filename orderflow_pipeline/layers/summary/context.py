"""Smart-money context for a trading date (SPEC §8, last paragraph).

The summary of date D is scored against the newest end-of-day features *before* D (the seed's
`SELECT MAX(date) FROM daily_features WHERE date < ?`): intraday, D's own broker summaries do not
exist yet. Context that is more than 7 trading sessions old says nothing about today, so it counts
as missing for every ticker.

The context also carries each ticker's previous close (its last candle's close on its latest
session before D, within PREV_CLOSE_DAYS): the reference price of D's auto-rejection band, from
which an item's `lim` says whether its price stands at ARA or ARB (issue 27, `bounds.limit_at`).
The candles keep no tape field [12]; on every session but a corporate action's, [12] is that close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.warehouse.queries import has_table

# Context older than this many trading sessions counts as missing (§10 ctx_found). Not the same
# rule as `fallback.LOOKBACK_SESSIONS` (how far the reader looks back for a day with data), though
# the SPEC sets both to 7.
MAX_CTX_AGE_SESSIONS = 7
# How far back a previous close is looked for: a ticker silent longer than this has no `lim`.
PREV_CLOSE_DAYS = 45


@dataclass(frozen=True)
class CtxRow:
    z_ngr: float
    state: str


@dataclass(frozen=True)
class Context:
    ctx_date: date | None
    found: bool
    rows: dict[str, CtxRow] = field(default_factory=dict)
    prev_close: dict[str, int] = field(default_factory=dict)

    @classmethod
    def none(cls, prev_close: dict[str, int] | None = None) -> Context:
        return cls(None, False, {}, prev_close or {})


def previous_closes(con: duckdb.DuckDBPyConnection, d: date) -> dict[str, int]:
    """Each ticker's last close before `d` (within PREV_CLOSE_DAYS), from the warehouse."""
    if not has_table(con, "footprint_1m"):
        return {}
    rows = con.execute(
        "SELECT ticker, arg_max(close, time_key) FROM footprint_1m WHERE date < ? AND date >= ? "
        "GROUP BY ticker",
        [d, d - timedelta(days=PREV_CLOSE_DAYS)],
    ).fetchall()
    return {str(t): int(c) for t, c in rows}


def load_context(con: duckdb.DuckDBPyConnection | None, d: date | str) -> Context:
    """Context for date `d`: the newest daily_features date < d, its usable rows (non-null z_ngr),
    and the previous closes."""
    d = as_date(d)
    if con is None:
        return Context.none()
    prev = previous_closes(con, d)
    if not has_table(con, "daily_features"):
        return Context.none(prev)
    row = con.execute("SELECT max(date) FROM daily_features WHERE date < ?", [d]).fetchone()
    ctx_date = row[0] if row else None
    if ctx_date is None:
        return Context.none(prev)
    if idx_calendar.sessions_between(ctx_date, d) > MAX_CTX_AGE_SESSIONS:
        return Context.none(prev)
    rows = con.execute(
        "SELECT ticker, z_ngr, state FROM daily_features WHERE date = ? AND z_ngr IS NOT NULL",
        [ctx_date],
    ).fetchall()
    return Context(ctx_date, True, {t: CtxRow(float(z), str(s)) for t, z, s in rows}, prev)
