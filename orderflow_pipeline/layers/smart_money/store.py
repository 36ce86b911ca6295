"""Where smart money is stored: the one owner of the SQL over `broker_daily` and `daily_features`
and of the `features/z_score/` lake files (SPEC §4, §8).

- `broker_daily`: one row per parsed ticker-date object (traded=false for a non-trading day, kept
  so it is not re-read), with the object's fingerprint and the rules it was parsed under.
- `daily_features`: one row per ticker-session, written only through `write_features_table`,
  which refuses a row whose ngr is outside [−1, 1] (SPEC §8) with an error naming it.
- `features/z_score/daily/{date}.json` and `features/z_score/emiten/{T}.json` (the newest
  EMITEN_HISTORY sessions), rendered from `daily_features` by DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from orderflow_pipeline.layers.smart_money.features import FEATURE_COLUMNS, HISTORY_SESSIONS
from orderflow_pipeline.storage.keys import check_ticker, zscore_daily_key, zscore_emiten_key
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck

EMITEN_HISTORY = 365  # sessions kept in features/z_score/emiten/{T}.json (SPEC §4)

BROKER_DAILY_COLUMNS = [
    "ticker",
    "date",
    "traded",
    "value",
    "vwap",
    "volume",
    "sm_buy",
    "sm_sell",
    "sm_net",
    "brokers",
    "source_key",
    "fingerprint",
    "categories",
    "parsed_at",
]
METRIC_COLUMNS = ["value", "vwap", "sm_net", "ngr", "ret_pct", "elas", "sessions", "insufficient_history"]
_TABLE_COLUMNS = ["date", "ticker", "state", "score", "z_effort", "z_result", "z_ngr", "z_elas"]


class NgrOutOfRange(ValueError):
    """A daily_features row would carry ngr outside [−1, 1]: a broken invariant, never stored."""


# -- broker_daily ---------------------------------------------------------------------------


def stored_broker_days(
    con: duckdb.DuckDBPyConnection, dates: Sequence[date]
) -> dict[tuple[str, date], tuple[str, str]]:
    """{(ticker, date): (fingerprint, parse digest)} of the stored broker days of `dates`."""
    rows = con.execute(
        "SELECT ticker, date, fingerprint, categories FROM broker_daily WHERE date IN (SELECT unnest(?::DATE[]))",
        [list(dates)],
    ).fetchall()
    return {(t, d): (fp, c) for t, d, fp, c in rows}


def implausible_broker_days(
    con: duckdb.DuckDBPyConnection, dates: Sequence[date]
) -> list[tuple[str, date, str, str]]:
    """(ticker, date, source key, reason) of stored trading days of `dates` that break the SPEC §8
    bound |sm_net| <= value (a value an older parser let through), so they can leave the table
    instead of failing every later write of their 20-session windows."""
    rows = con.execute(
        """SELECT ticker, date, source_key, sm_net, value FROM broker_daily
           WHERE date IN (SELECT unnest(?::DATE[])) AND traded AND NOT (value > 0 AND abs(sm_net) <= value)
           ORDER BY date, ticker""",
        [list(dates)],
    ).fetchall()
    return [
        (t, d, key, f"implausible_stored_row: sm_net {net!r} vs value {value!r} (ngr outside [−1, 1])")
        for t, d, key, net, value in rows
    ]


def replace_broker_days(
    con: duckdb.DuckDBPyConnection, gone: Iterable[tuple[str, date]], rows: Sequence[Sequence[Any]]
) -> int:
    """Delete the `gone` (ticker, date) rows and upsert `rows` (BROKER_DAILY_COLUMNS), all or nothing.

    Returns the number of deletions requested."""
    gone = list(gone)
    cols = ", ".join(BROKER_DAILY_COLUMNS)
    con.register("_bd_gone", pd.DataFrame(gone, columns=["ticker", "date"]))
    con.register(
        "_bd_new",
        pa.Table.from_pandas(pd.DataFrame(list(rows), columns=BROKER_DAILY_COLUMNS), preserve_index=False),
    )

    def replace() -> None:
        # DELETE + INSERT rather than INSERT OR REPLACE: DuckLake has no keys to replace by. The
        # lock makes two runs upserting the same (ticker, date) — a run syncs its 60-day
        # lookback, so neighbouring dates overlap — conflict instead of both appending.
        for table in ("_bd_gone", "_bd_new"):
            con.execute(
                f"DELETE FROM broker_daily WHERE (ticker, date) IN (SELECT (ticker, date) FROM {table})"
            )
        con.execute(f"INSERT INTO broker_daily ({cols}) SELECT {cols} FROM _bd_new")

    try:
        if gone or rows:
            duck.committed(con, replace, lock="broker_daily")
    finally:
        con.unregister("_bd_gone")
        con.unregister("_bd_new")
    return len(gone)


def load_history(
    con: duckdb.DuckDBPyConnection, dates: Sequence[date], history: int = HISTORY_SESSIONS
) -> pd.DataFrame:
    """Trading sessions needed to compute `dates`: each ticker's sessions in [min, max] of dates
    plus its `history` sessions before min(dates)."""
    lo, hi = min(dates), max(dates)
    return con.execute(
        """
        WITH s AS (
            SELECT ticker, date, value, vwap, sm_net,
                   row_number() OVER (PARTITION BY ticker ORDER BY date) AS sessions
            FROM broker_daily WHERE traded AND date <= ?)
        SELECT ticker, date, value, vwap, sm_net, sessions FROM s
        QUALIFY date >= ? OR row_number() OVER (PARTITION BY ticker, date >= ? ORDER BY date DESC) <= ?
        ORDER BY ticker, date
        """,
        [hi, lo, lo, history],
    ).df()


# -- daily_features -------------------------------------------------------------------------


def _struct(columns: Sequence[str]) -> str:
    """SQL struct_pack over columns (dates as ISO strings), for DuckDB's vectorised to_json."""
    parts = [f"{c} := {c}::VARCHAR" if c == "date" else f"{c} := {c}" for c in columns]
    return "struct_pack(" + ", ".join(parts) + ")"


def check_ngr_bounded(feats: pd.DataFrame) -> None:
    """Raise NgrOutOfRange naming every (ticker, date) whose ngr is not in [−1, 1] (NaN included).

    The parser's plausibility rules make this impossible for parsed files; the guard stands at
    the write so no other path (a hand-filled broker_daily, a future parser bug) can store one."""
    ngr = feats["ngr"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~((ngr >= -1.0) & (ngr <= 1.0))
    if bad.any():
        rows = feats.loc[bad, ["ticker", "date", "ngr"]]
        named = ", ".join(f"{t} {d} ngr={n!r}" for t, d, n in rows.head(10).itertuples(index=False))
        raise NgrOutOfRange(
            f"refusing to write {int(bad.sum())} daily_features row(s) with ngr outside [−1, 1] "
            f"(SPEC §8): {named}"
        )


def write_features_table(con: duckdb.DuckDBPyConnection, feats: pd.DataFrame, dates: Sequence[date]) -> int:
    """Replace the `dates`' rows of daily_features with `feats` (one transaction)."""
    check_ngr_bounded(feats)
    tbl = pa.Table.from_pandas(feats[FEATURE_COLUMNS], preserve_index=False)  # NaN -> NULL
    cols = ", ".join(_TABLE_COLUMNS)
    con.register("_df_new", tbl)

    def replace() -> None:  # keyed by date: runs writing other dates never touch these rows
        con.execute("DELETE FROM daily_features WHERE date IN (SELECT unnest(?::DATE[]))", [list(dates)])
        con.execute(
            f"INSERT INTO daily_features ({cols}, metrics_json, created_at) "
            f"SELECT {cols}, to_json({_struct(METRIC_COLUMNS)}), now()::TIMESTAMP FROM _df_new"
        )

    try:
        duck.committed(con, replace)
    finally:
        con.unregister("_df_new")
    return len(feats)


Health = tuple[int, int, int, list[str]]  # (rows, insufficient history, non-finite, unknown states)

_HEALTH_SQL = """SELECT date, count(*),
          count(*) FILTER (WHERE json_extract(metrics_json, '$.insufficient_history')::BOOLEAN),
          count(*) FILTER (WHERE isinf(z_ngr) OR isnan(z_ngr) OR isinf(z_effort) OR isnan(z_effort)
                            OR isinf(z_result) OR isnan(z_result) OR isinf(z_elas) OR isnan(z_elas)
                            OR isinf(score) OR isnan(score)),
          list(DISTINCT state) FILTER (WHERE state NOT IN ('ACCUMULATION', 'DISTRIBUTION', 'NEUTRAL'))
   FROM daily_features WHERE date IN (SELECT unnest(?::DATE[])) GROUP BY date"""


def feature_health_by_date(con: duckdb.DuckDBPyConnection, dates: Sequence[date]) -> dict[date, Health]:
    """(rows, rows with insufficient history, rows with a non-finite z or score, unknown states)
    of each date of `dates`, in one query (a backfill's checks ask for every date); zeros for a
    date without rows, or for all when the table does not exist yet."""
    empty: Health = (0, 0, 0, [])
    try:
        rows = con.execute(_HEALTH_SQL, [list(dates)]).fetchall()
    except duckdb.CatalogException:
        return {d: empty for d in dates}
    found = {d: (int(n), int(short), int(bad), list(states or [])) for d, n, short, bad, states in rows}
    return {d: found.get(d, empty) for d in dates}


def feature_health(con: duckdb.DuckDBPyConnection, d: date) -> Health:
    """`feature_health_by_date` of one date."""
    return feature_health_by_date(con, [d])[d]


def export_select(where: str) -> str:
    """The export query of `daily_features` (`export.py` supplies the date/ticker clause)."""
    return (
        f"SELECT {', '.join(_TABLE_COLUMNS)}, metrics_json, created_at FROM daily_features "
        f"WHERE {where} ORDER BY date, ticker"
    )


# -- lake files -----------------------------------------------------------------------------


_ROW_JSON = (
    "struct_pack(date := date::VARCHAR, state := state, score := score, z_effort := z_effort, "
    "z_result := z_result, z_ngr := z_ngr, z_elas := z_elas, metrics := metrics_json::JSON)"
)


def write_lake_files(
    lake: Lake, con: duckdb.DuckDBPyConnection, dates: Sequence[date], tickers: Sequence[str]
) -> int:
    """Daily files for `dates` and emiten history files (newest EMITEN_HISTORY sessions) of `tickers`,
    rendered from daily_features by DuckDB in bulk; each entry mirrors a table row (metrics nested
    as stored). Unchanged bytes are not rewritten, so an unchanged re-run touches nothing.
    Returns objects written."""
    files: dict[str, bytes] = {}
    daily = {
        d: (n, j)
        for d, n, j in con.execute(
            f"""SELECT date, count(*), to_json(list(struct_insert({_ROW_JSON}, ticker := ticker) ORDER BY ticker))
            FROM daily_features WHERE date IN (SELECT unnest(?::DATE[])) GROUP BY date""",
            [list(dates)],
        ).fetchall()
    }
    for d in dates:
        n, items = daily.get(d, (0, "[]"))
        files[zscore_daily_key(d)] = f'{{"date":"{d.isoformat()}","count":{n},"items":{items}}}'.encode()
    if tickers:
        rows = con.execute(
            f"""
            WITH h AS (
                SELECT * FROM daily_features WHERE ticker IN (SELECT unnest(?::VARCHAR[]))
                QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY date DESC) <= ?)
            SELECT ticker, to_json(list({_ROW_JSON} ORDER BY date)) FROM h GROUP BY ticker
            """,
            [list(tickers), EMITEN_HISTORY],
        ).fetchall()
        for t, hist in rows:
            files[zscore_emiten_key(t)] = f'{{"ticker":"{check_ticker(t)}","history":{hist}}}'.encode()
    return len(lake.write_many_if_changed(files))  # S3: one listing per folder, not a GET per file
