"""Every read of `footprint_1m` / `footprint_levels` (SPEC §7, §9, §11): one owner per table.

The summary, the range endpoint, the API's history, coverage and health views, the integrity scan,
the exports and the warehouse checks call these instead of writing their own SQL, so a column or
a formula changes in one place. Readers never create or lock the warehouse for long: `reading`
waits briefly for a writer, then raises (the caller falls back to the lake or the last summary).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from orderflow_pipeline.layers.footprint.candles import CANDLE_SCHEMA, LEVEL_SCHEMA
from orderflow_pipeline.layers.summary.documents import Candle, candle
from orderflow_pipeline.layers.summary.liquidity import TRADED_VALUE_SQL
from orderflow_pipeline.layers.summary.scoring import AGGREGATE_COLUMNS, VELOCITY_WINDOW_MS, Aggregates
from orderflow_pipeline.storage import keys as K
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck

# The tables' column order is the validator's Arrow schemas (candles.py), stated once; the loader
# inserts in this order and the exports select it.
CANDLE_COLS = ", ".join(CANDLE_SCHEMA.names)
LEVEL_COLS = ", ".join(LEVEL_SCHEMA.names)

# A reader waits about a second (duck.connect's backoff) for a writer's lock, then falls back
# (lake files or the last summary) instead of failing: the API and the read-side fallback share it.
READER_RETRIES = 6


@contextmanager
def reading(target: str | duck.Target) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only warehouse connection for readers; raises duck.WarehouseBusy / WarehouseMissing."""
    with duck.reading(target, retries=READER_RETRIES) as con:
        yield con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> int:
    """The single integer a count/sum query returns (0 for no row or NULL)."""
    row = con.execute(sql, list(params)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether table `name` exists (a warehouse file created but never consolidated has no tables).

    `duckdb_tables()`, not `information_schema.tables`: the view cost ~6 ms a call (it joins every
    catalog's tables and views), and the readers ask before each query — 3 times per date in a
    backfill's checks."""
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()
    return bool(row and row[0])


def columns_of(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    """The columns `name` has now: a reader of a warehouse written before a migration
    (schema.MIGRATIONS, applied by the next writer) selects the missing ones as NULL."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]
    ).fetchall()
    return {str(r[0]) for r in rows}


def tickers_for(con: duckdb.DuckDBPyConnection | None, d: date | str) -> int:
    """Distinct tickers with at least one candle on date `d` (the summary's fast-path test);
    0 without a connection or table."""
    if con is None or not has_table(con, "footprint_1m"):
        return 0
    row = con.execute(
        "SELECT count(DISTINCT ticker) FROM footprint_1m WHERE date = ?", [K.as_date(d)]
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Coverage:
    """How the warehouse's tickers for a date compare with the lake's footprint files (§11)."""

    warehouse_tickers: int
    lake_tickers: int
    missing: tuple[str, ...]  # tickers with footprint files for the date but no warehouse row
    floor: int

    @property
    def fast_path(self) -> bool:
        """The summary may read the warehouse: it holds every ticker the lake has for the date,
        and at least `floor` of them. A complete warehouse is used at any market size (a 150-ticker
        demo as much as a 900-ticker day); an incomplete one makes the summary read the lake and heal."""
        return not self.missing and self.warehouse_tickers >= self.floor

    def describe(self) -> str:
        shown = ", ".join(self.missing[:10]) + (" ..." if len(self.missing) > 10 else "")
        return (
            f"warehouse holds {self.warehouse_tickers} tickers, the lake's footprint files {self.lake_tickers}"
            + (f"; missing {len(self.missing)}: {shown}" if self.missing else "")
            + f" (floor {self.floor})"
        )


def coverage(
    lake: Lake,
    d: date | str,
    warehouse_tickers: Iterable[str],
    *,
    floor: int,
    listed: Iterable[str] | None = None,
    lake_tickers: Iterable[str] | None = None,
) -> Coverage:
    """The one fast-path rule (summary and the `warehouse_fast_path_tickers` check): compare the
    warehouse's tickers of date `d` with the tickers of the lake's footprint files (one listing;
    `listed`: the date's footprint keys when the caller already has them; `lake_tickers`: their
    tickers, e.g. from `inventory.footprint_tickers_by_date`)."""
    have = set(warehouse_tickers)
    if lake_tickers is None:
        keys = footprint_objects(lake, d) if listed is None else listed
        lake_tickers = {K.parse_footprint_key(k)[0] for k in keys}
    lake_tickers = set(lake_tickers)
    return Coverage(len(have), len(lake_tickers), tuple(sorted(lake_tickers - have)), floor)


def ticker_set(con: duckdb.DuckDBPyConnection | None, d: date | str) -> set[str]:
    """Distinct tickers with at least one candle on date `d` (empty without a connection or table)."""
    if con is None or not has_table(con, "footprint_1m"):
        return set()
    rows = con.execute("SELECT DISTINCT ticker FROM footprint_1m WHERE date = ?", [K.as_date(d)]).fetchall()
    return {str(r[0]) for r in rows}


def candles_for(con: duckdb.DuckDBPyConnection, ticker: str, d: date | str) -> list[Candle]:
    """One ticker's minute candles of date `d` in the §6 shape, levels sorted by price."""
    K.check_ticker(ticker)
    rows = con.execute(
        """
        SELECT c.time_key, c.open, c.high, c.low, c.close, c.vol, c.delta,
               coalesce((SELECT list({'p': l.price, 'bv': l.bv, 'av': l.av} ORDER BY l.price)
                         FROM footprint_levels l
                         WHERE l.date = c.date AND l.ticker = c.ticker AND l.time_key = c.time_key), [])
        FROM footprint_1m c WHERE c.ticker = ? AND c.date = ? ORDER BY c.time_key
        """,
        [ticker, K.as_date(d)],
    ).fetchall()
    return [
        candle(t0, o, h, lo, c, vol, delta, ((x["p"], x["bv"], x["av"]) for x in levels))
        for t0, o, h, lo, c, vol, delta, levels in rows
    ]


def tickers_by_hour(con: duckdb.DuckDBPyConnection, d: date | str) -> list[tuple[str, datetime]]:
    """(ticker, UTC hour start) for every hour of date `d` with at least one candle (coverage view)."""
    rows = con.execute(
        "SELECT DISTINCT ticker, time_key // 3600000 AS hr FROM footprint_1m WHERE date = ?", [K.as_date(d)]
    ).fetchall()
    return [(str(t), datetime.fromtimestamp(int(hr) * 3600, tz=timezone.utc)) for t, hr in rows]


def newest_date(con: duckdb.DuckDBPyConnection) -> tuple[date | None, int | None]:
    """(newest date with candles, its distinct ticker count); (None, None) for an empty table."""
    row = con.execute("SELECT max(date) FROM footprint_1m").fetchone()
    newest = row[0] if row else None
    if newest is None:
        return None, None
    return newest, tickers_for(con, newest)


def ticker_totals(con: duckdb.DuckDBPyConnection, d: date | str, ticker: str) -> tuple[Any, Any, Any, Any]:
    """(Σvol, Σdelta, max high, min low) of one ticker-day; all None when it has no rows."""
    row = con.execute(
        "SELECT sum(vol), sum(delta), max(high), min(low) FROM footprint_1m WHERE date = ? AND ticker = ?",
        [K.as_date(d), ticker],
    ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row else (None, None, None, None)


def ticker_minutes(
    con: duckdb.DuckDBPyConnection, ticker: str, start: date | str, end: date | str
) -> dict[date, set[int]]:
    """The minutes (`time_key`, UTC epoch ms) one ticker has in footprint_1m, per date in
    [start, end] (the integrity scan compares them with the hour files); {} without the table."""
    K.check_ticker(ticker)
    if not has_table(con, "footprint_1m"):
        return {}
    rows = con.execute(
        "SELECT date, time_key FROM footprint_1m WHERE ticker = ? AND date BETWEEN ? AND ?",
        [ticker, K.as_date(start), K.as_date(end)],
    ).fetchall()
    out: dict[date, set[int]] = {}
    for d, t0 in rows:
        out.setdefault(d, set()).add(int(t0))
    return out


# §9 per-ticker aggregation, the one definition for every source: open/close by t0, extremes,
# sums; velocity window = t0 > cutoff − 60 min, cutoff = newest t0 of any ticker in the set.
# `{rows}` is a relation with ticker, time_key, open, high, low, close, vol, delta (one row per
# ticker-minute).
_AGG_SQL = """
WITH c AS ({rows}),
cut AS (SELECT max(time_key) AS cutoff FROM c)
SELECT ticker,
       arg_min(open, time_key) AS open, max(high) AS high, min(low) AS low,
       arg_max(close, time_key) AS close,
       sum(vol)::BIGINT AS vol, sum(delta)::BIGINT AS delta,
       coalesce(sum(vol) FILTER (WHERE time_key > cutoff - {window}), 0)::BIGINT AS vol_w,
       coalesce(sum(delta) FILTER (WHERE time_key > cutoff - {window}), 0)::BIGINT AS delta_w,
       {value} AS val
FROM c, cut
GROUP BY ticker
ORDER BY ticker
"""
_ROW_COLS = "ticker, time_key, open, high, low, close, vol, delta"


def _aggregate(con: duckdb.DuckDBPyConnection, rows_sql: str, params: Sequence[Any]) -> Aggregates:
    sql = _AGG_SQL.format(rows=rows_sql, window=VELOCITY_WINDOW_MS, value=TRADED_VALUE_SQL)
    cols = con.execute(sql, list(params)).fetchnumpy()
    return Aggregates.from_columns({k: np.asarray(cols[k]) for k in AGGREGATE_COLUMNS})


def aggregate_date(con: duckdb.DuckDBPyConnection, d: date | str) -> Aggregates | None:
    """§9 aggregates of every ticker of date `d`; None when the table does not exist. One query:
    its row count is the date's ticker count."""
    if not has_table(con, "footprint_1m"):
        return None
    return _aggregate(con, f"SELECT {_ROW_COLS} FROM footprint_1m WHERE date = ?", [K.as_date(d)])


def aggregate_days(con: duckdb.DuckDBPyConnection, days: Sequence[date]) -> Aggregates:
    """§9 aggregates over several trading days at once (the range endpoint, formula B)."""
    if not days or not has_table(con, "footprint_1m"):
        return Aggregates.empty()
    rows = (
        f"SELECT {_ROW_COLS} FROM footprint_1m "
        "WHERE date BETWEEN ? AND ? AND date IN (SELECT unnest(?::DATE[]))"
    )
    return _aggregate(con, rows, [min(days), max(days), list(days)])


def aggregate_candle_table(candles: pa.Table) -> Aggregates:
    """§9 aggregates of validated candles held in memory (the summary's lake path), through the
    same query on an in-memory DuckDB. `candles` carries the validator's columns plus `seq`
    (load order): of duplicate t0 lines of one ticker the later one wins (§6)."""
    mem = duckdb.connect()
    try:
        mem.register("lake_candles", candles)
        rows = (
            f"SELECT {_ROW_COLS} FROM lake_candles "
            "QUALIFY row_number() OVER (PARTITION BY ticker, time_key ORDER BY seq DESC) = 1"
        )
        return _aggregate(mem, rows, [])
    finally:
        mem.close()


def traded_values(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[tuple[str, date], int]:
    """Rupiah traded per (ticker, date) in [start, end] (the summary items' `val`, same SQL)."""
    if not has_table(con, "footprint_1m"):
        return {}
    rows = con.execute(
        f"SELECT ticker, date, {TRADED_VALUE_SQL} FROM footprint_1m WHERE date BETWEEN ? AND ? GROUP BY ALL",
        [start, end],
    ).fetchall()
    return {(str(t), d): int(v) for t, d, v in rows}


def session_open_close(
    con: duckdb.DuckDBPyConnection, tickers: Sequence[str], start: date, end: date
) -> list[tuple[str, date, int, int]]:
    """(ticker, date, open, close) of each ticker-day with candles in [start, end]: open = the
    first candle's open, close = the last candle's close, by `time_key` (SPEC §9); the signal
    outcomes' prices. Ordered by ticker, date."""
    if not tickers or not has_table(con, "footprint_1m"):
        return []
    rows = con.execute(
        """SELECT ticker, date, arg_min(open, time_key), arg_max(close, time_key) FROM footprint_1m
           WHERE date BETWEEN ? AND ? AND ticker IN (SELECT unnest(?::VARCHAR[]))
           GROUP BY ticker, date ORDER BY ticker, date""",
        [start, end, list(tickers)],
    ).fetchall()
    return [(str(t), d, int(o), int(c)) for t, d, o, c in rows]


def level_totals(
    con: duckdb.DuckDBPyConnection, ticker: str, start: date, end: date
) -> tuple[list[tuple[int, int, int]], int]:
    """(price, Σbv, Σav) of one ticker's levels over [start, end], ascending, and the number of
    dates with levels (a volume profile over a range)."""
    K.check_ticker(ticker)
    if not has_table(con, "footprint_levels"):
        return [], 0
    rows = con.execute(
        """SELECT price, sum(bv)::BIGINT, sum(av)::BIGINT FROM footprint_levels
           WHERE ticker = ? AND date BETWEEN ? AND ? GROUP BY price ORDER BY price""",
        [ticker, start, end],
    ).fetchall()
    sessions = scalar(
        con,
        "SELECT count(DISTINCT date) FROM footprint_levels WHERE ticker = ? AND date BETWEEN ? AND ?",
        [ticker, start, end],
    )
    return [(int(p), int(b), int(a)) for p, b, a in rows], sessions


def export_select(table: str, where: str) -> str:
    """The export query of `footprint_1m` or `footprint_levels` (`export.py` adds the filter:
    `where` is its parameterized date/ticker clause); ValueError for any other table."""
    order = {"footprint_1m": "date, ticker, time_key", "footprint_levels": "date, ticker, time_key, price"}
    if table not in order:
        raise ValueError(f"the warehouse does not own table {table!r}")
    cols = CANDLE_COLS if table == "footprint_1m" else LEVEL_COLS
    return f"SELECT {cols} FROM {table} WHERE {where} ORDER BY {order[table]}"
