"""Smart-money context for a trading date (SPEC §8, last paragraph).

The summary of date D is scored against the newest end-of-day features *before* D (the seed's
`SELECT MAX(date) FROM daily_features WHERE date < ?`): intraday, D's own broker summaries do not
exist yet. Context that is more than 7 trading sessions old says nothing about today, so it counts
as missing for every ticker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.warehouse.queries import has_table

# Context older than this many trading sessions counts as missing (§10 ctx_found). Not the same
# rule as `fallback.LOOKBACK_SESSIONS` (how far the reader looks back for a day with data), though
# the SPEC sets both to 7.
MAX_CTX_AGE_SESSIONS = 7


@dataclass(frozen=True)
class CtxRow:
    z_ngr: float
    state: str


@dataclass(frozen=True)
class Context:
    ctx_date: date | None
    found: bool
    rows: dict[str, CtxRow] = field(default_factory=dict)

    @classmethod
    def none(cls) -> Context:
        return cls(None, False, {})


def load_context(con: duckdb.DuckDBPyConnection | None, d: date | str) -> Context:
    """Context for date `d`: the newest daily_features date < d, its usable rows (non-null z_ngr)."""
    d = as_date(d)
    if con is None or not has_table(con, "daily_features"):
        return Context.none()
    row = con.execute("SELECT max(date) FROM daily_features WHERE date < ?", [d]).fetchone()
    ctx_date = row[0] if row else None
    if ctx_date is None:
        return Context.none()
    if idx_calendar.sessions_between(ctx_date, d) > MAX_CTX_AGE_SESSIONS:
        return Context.none()
    rows = con.execute(
        "SELECT ticker, z_ngr, state FROM daily_features WHERE date = ? AND z_ngr IS NOT NULL",
        [ctx_date],
    ).fetchall()
    return Context(ctx_date, True, {t: CtxRow(float(z), str(s)) for t, z, s in rows})
