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

from bisect import bisect_left
from collections.abc import Iterable
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


def _previous_closes_many(con: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date, dict[str, int]]:
    """`previous_closes` of each of `days` (sorted) from one query: per ticker and session, its
    last candle's time and close; for a date D the ticker's close is the one of its session in
    [D − PREV_CLOSE_DAYS, D) with the latest candle, which is `previous_closes`' arg_max over
    those rows ((ticker, time_key) is unique)."""
    if not has_table(con, "footprint_1m"):
        return {d: {} for d in days}
    rows = con.execute(
        "SELECT ticker, date, max(time_key), arg_max(close, time_key) FROM footprint_1m "
        "WHERE date < ? AND date >= ? GROUP BY ticker, date ORDER BY ticker, date",
        [days[-1], days[0] - timedelta(days=PREV_CLOSE_DAYS)],
    ).fetchall()
    sessions: dict[str, tuple[list[date], list[tuple[int, int]]]] = {}
    for t, day, last, close in rows:
        dates, facts = sessions.setdefault(str(t), ([], []))
        dates.append(day)
        facts.append((int(last), int(close)))
    out: dict[date, dict[str, int]] = {}
    for d in days:
        lo, prev = d - timedelta(days=PREV_CLOSE_DAYS), {}
        for t, (dates, facts) in sessions.items():
            window = facts[bisect_left(dates, lo) : bisect_left(dates, d)]
            if window:
                prev[t] = max(window)[1]  # the latest candle's close
        out[d] = prev
    return out


def load_contexts(con: duckdb.DuckDBPyConnection | None, dates: Iterable[date | str]) -> dict[date, Context]:
    """`load_context` of every date of `dates` in three queries, not three per date (a backfill
    of the summary asks for every date)."""
    days = sorted({as_date(d) for d in dates})
    if con is None or not days:
        return {d: Context.none() for d in days}
    prev = _previous_closes_many(con, days)
    if not has_table(con, "daily_features"):
        return {d: Context.none(prev[d]) for d in days}
    stored = [r[0] for r in con.execute("SELECT DISTINCT date FROM daily_features ORDER BY date").fetchall()]
    ctx_of: dict[date, date] = {}
    for d in days:
        i = bisect_left(stored, d)  # stored[i - 1] = max(date) < d
        if i and idx_calendar.sessions_between(stored[i - 1], d) <= MAX_CTX_AGE_SESSIONS:
            ctx_of[d] = stored[i - 1]
    rows: dict[date, dict[str, CtxRow]] = {c: {} for c in ctx_of.values()}
    for c, t, z, st in con.execute(
        "SELECT date, ticker, z_ngr, state FROM daily_features "
        "WHERE date IN (SELECT unnest(?::DATE[])) AND z_ngr IS NOT NULL",
        [sorted(rows)],
    ).fetchall():
        rows[c][t] = CtxRow(float(z), str(st))
    return {
        d: Context(ctx_of[d], True, dict(rows[ctx_of[d]]), prev[d]) if d in ctx_of else Context.none(prev[d])
        for d in days
    }
