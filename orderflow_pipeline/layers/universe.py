"""The ticker universe (issue 19, SPEC §15): which tickers are listed, and when each was last seen.

Why: a ticker that silently stops arriving (a feed filter, a capture gap, a rename) leaves no
error anywhere — every layer happily processes the tickers it *does* get. The universe is the
expected set: seeded from the real IDX daily snapshot shipped with the project
(`data/idx_daily_snapshot.csv`, 1,234 listed codes) and updated from what the lake shows each
trading date — tickers with footprint hour files (the tape's trades, as the footprint layer wrote
them) and tickers with a broker summary — with first/last seen dates.

Stored twice, like every layer: DuckDB `universe` (schema.py) and the lake file
`features/universe.json` (`keys.UNIVERSE_KEY`), written only when its bytes change. Updating is
idempotent and order-free: `first_seen` only moves earlier and `last_seen`/`last_traded` only
later, so re-running or backfilling any date gives the same table.

The check `universe_previous_session_present` names the tickers that traded on the previous
session and have no trade on the date (computed from the lake listings, so it is right whether or
not the table was updated for those dates yet).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from typing import Any, TypedDict

import duckdb
import pyarrow as pa

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.smart_money.checks import traded_tickers, traded_tickers_by_date
from orderflow_pipeline.layers.smart_money.listing import list_broksum
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import duck

ASSET = "ticker_universe"
SHOWN = 50  # tickers named in a check's description
_COLS = "ticker, in_snapshot, first_seen, last_seen, last_traded, updated_at"


class UniverseRow(TypedDict):
    ticker: str
    in_snapshot: bool
    first_seen: str | None
    last_seen: str | None
    last_traded: str | None


def snapshot_text() -> str:
    """The packaged IDX daily snapshot (CSV: ticker, open, high, low, close, lots, trades, value)."""
    return resources.files("orderflow_pipeline").joinpath("data/idx_daily_snapshot.csv").read_text()


def snapshot_tickers() -> set[str]:
    """The listed codes of the packaged IDX daily snapshot that are valid tickers (`keys.TICKER_RE`)."""
    out = set()
    for row in csv.DictReader(io.StringIO(snapshot_text())):
        t = (row.get("ticker") or "").strip()
        if keys.TICKER_RE.match(t):
            out.add(t)
    return out


@dataclass
class UniverseResult:
    dates: list[str] = field(default_factory=list)
    tickers: int = 0  # rows in the universe after the update
    seen: int = 0  # distinct tickers seen on the dates
    new: int = 0  # seen tickers that were not in the universe before
    lake_file_written: bool = False
    seen_by_date: dict[str, int] = field(default_factory=dict)  # distinct tickers seen on each date

    def as_metadata(self) -> dict[str, Any]:
        return {"dates": len(self.dates), "tickers": self.tickers, "seen": self.seen, "new": self.new,
                "lake_file_written": self.lake_file_written}  # fmt: skip


Traded = Mapping[date, set[str]]  # WIB date -> tickers with footprint files on it


def traded_with_previous(lake: Lake, dates: Iterable[date]) -> dict[date, set[str]]:
    """The tickers with footprint files on each of `dates` and on each one's previous session:
    everything `update_universe` and `checks` read from the footprint folders, in one pass."""
    days = {keys.as_date(d) for d in dates}
    prev = {p for d in days for p in idx_calendar.previous_sessions(d, 1)}
    return traded_tickers_by_date(lake, days | prev)


def _seen(lake: Lake, dates: list[date], traded: Traded | None = None) -> list[tuple[str, date, bool]]:
    """(ticker, date, traded) for every ticker with footprint files or a broker summary on a date."""
    out: dict[tuple[str, date], bool] = {}
    for t, d in list_broksum(lake, dates).objects:
        out[(t, d)] = False
    by_date = traded_tickers_by_date(lake, dates) if traded is None else traded
    for d in dates:
        for t in by_date[d]:
            out[(t, d)] = True
    return [(t, d, flag) for (t, d), flag in sorted(out.items())]


def update_universe(
    lake: Lake, con: duckdb.DuckDBPyConnection, dates: Iterable[date], *, traded: Traded | None = None
) -> UniverseResult:
    """Fold what the lake shows on `dates` into the universe (table + lake file). `traded`: the
    dates' footprint tickers when the caller holds them (`traded_with_previous`)."""
    days = sorted({keys.as_date(d) for d in dates})
    res = UniverseResult(dates=[d.isoformat() for d in days])
    seen = _seen(lake, days, traded)
    for _, d, _ in seen:
        res.seen_by_date[d.isoformat()] = res.seen_by_date.get(d.isoformat(), 0) + 1
    snap = snapshot_tickers()
    seen_tbl = pa.table(
        {"ticker": [t for t, _, _ in seen], "d": [d for _, d, _ in seen], "traded": [x for _, _, x in seen]},
        schema=pa.schema([("ticker", pa.string()), ("d", pa.date32()), ("traded", pa.bool_())]),
    )

    def merge() -> set[str]:
        """Upsert as DELETE + INSERT (DuckLake has no keys for ON CONFLICT): the merged rows are
        computed first from the table as this transaction sees it, then replace their tickers."""
        before = {r[0] for r in con.execute("SELECT ticker FROM universe").fetchall()}
        # The snapshot's codes first (a new snapshot version adds its new codes), then the seen ones.
        con.execute(
            "INSERT INTO universe (ticker, in_snapshot) SELECT unnest(?::VARCHAR[]), true",
            [sorted(snap - before)],
        )
        merged = con.execute(
            """
            WITH s AS (SELECT ticker, min(d) AS first_seen, max(d) AS last_seen,
                              max(d) FILTER (WHERE traded) AS last_traded
                       FROM _universe_seen GROUP BY ticker)
            SELECT s.ticker, coalesce(u.in_snapshot, false) AS in_snapshot,
                   least(coalesce(u.first_seen, s.first_seen), s.first_seen) AS first_seen,
                   greatest(coalesce(u.last_seen, s.last_seen), s.last_seen) AS last_seen,
                   CASE WHEN s.last_traded IS NULL THEN u.last_traded
                        ELSE greatest(coalesce(u.last_traded, s.last_traded), s.last_traded) END AS last_traded,
                   CASE WHEN u.ticker IS NULL THEN NULL ELSE now()::TIMESTAMP END AS updated_at
            FROM s LEFT JOIN universe u ON u.ticker = s.ticker
            """
        ).fetch_arrow_table()
        con.register("_universe_merged", merged)
        try:
            con.execute("DELETE FROM universe WHERE ticker IN (SELECT ticker FROM _universe_merged)")
            con.execute(f"INSERT INTO universe ({_COLS}) SELECT {_COLS} FROM _universe_merged")
        finally:
            con.unregister("_universe_merged")
        return before

    con.register("_universe_seen", seen_tbl)
    try:
        # lock: tickers span dates, so runs of different dates upsert the same rows
        before = duck.committed(con, merge, lock="universe")
    finally:
        con.unregister("_universe_seen")
    res.seen = len({t for t, _, _ in seen})
    res.new = len({t for t, _, _ in seen} - before - snap)
    rows = universe_rows(con)
    res.tickers = len(rows)
    doc = {"generated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "count": len(rows),
           "tickers": rows}  # fmt: skip
    # generated_at changes every run; compare the content without it so an unchanged universe is
    # not rewritten (the lake file's fingerprint then means "the universe changed").
    try:
        old = lake.read_json(keys.UNIVERSE_KEY)
    except (FileNotFoundError, ValueError):
        old = None
    if not isinstance(old, dict) or old.get("tickers") != rows:
        lake.write_bytes(keys.UNIVERSE_KEY, dumps(doc))
        res.lake_file_written = True
    return res


def universe_rows(con: duckdb.DuckDBPyConnection) -> list[UniverseRow]:
    """Every universe row, by ticker."""
    out: list[UniverseRow] = []
    for t, snap, first, last, traded in con.execute(
        "SELECT ticker, in_snapshot, first_seen, last_seen, last_traded FROM universe ORDER BY ticker"
    ).fetchall():
        out.append({"ticker": t, "in_snapshot": bool(snap),
                    "first_seen": first.isoformat() if first else None,
                    "last_seen": last.isoformat() if last else None,
                    "last_traded": traded.isoformat() if traded else None})  # fmt: skip
    return out


def missing_since_previous_session(
    lake: Lake, d: date | str, traded: Traded | None = None
) -> tuple[date | None, list[str]]:
    """(previous session, tickers that traded on it and have no trade on `d`), from the lake
    (or from `traded`, which then holds both dates)."""
    d = keys.as_date(d)
    prev = idx_calendar.previous_sessions(d, 1)
    if not prev:
        return None, []
    if traded is None:
        return prev[0], sorted(traded_tickers(lake, prev[0]) - traded_tickers(lake, d))
    return prev[0], sorted(traded[prev[0]] - traded[d])


def checks(
    lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str, *, traded: Traded | None = None
) -> list[CheckOutcome]:
    """The universe's completeness check for date `d` (lake-only: `con` is not needed). `traded`:
    `traded_with_previous` of a backfill's dates, so no date is listed again."""
    d = keys.as_date(d)
    prev, missing = missing_since_previous_session(lake, d, traded)
    shown = ", ".join(missing[:SHOWN]) + (f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else "")
    if prev is None:
        desc = "no previous session in the calendar"
    elif missing:
        desc = f"{len(missing)} ticker(s) traded on {prev} and have no trade on {d}: {shown}"
    else:
        desc = f"every ticker that traded on {prev} trades on {d}"
    return [
        CheckOutcome.of(
            "universe_previous_session_present",
            not missing,
            desc,
            {
                "date": d.isoformat(),
                "previous_session": prev.isoformat() if prev else None,
                "missing": len(missing),
                "missing_tickers": missing[:SHOWN],
            },
        )  # fmt: skip
    ]
