"""Exports for traders' own notebooks (issue 21): warehouse tables as Parquet, the summary as CSV.

Why this shape:
* Parquet comes from DuckDB's own `COPY (SELECT …) TO '…' (FORMAT parquet)`: the rows never pass
  through Python objects, so a year of `footprint_levels` costs disk, not memory. The API copies
  into a private temp file while it holds a read-only connection (released right after, so a
  writer waits as little as possible) and then streams that file in chunks and deletes it.
* Only the whitelisted tables below can be exported; the name picks the owner module's query
  (SQL over a table lives only in its owner: `warehouse` for the footprint tables,
  `smart_money.store` for `daily_features`, `outcomes` for `signal_outcomes`). This module adds
  only the generic date-range / ticker filter, as parameters; the COPY target is a path this
  module made, never user text.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import duckdb

from orderflow_pipeline.layers import outcomes
from orderflow_pipeline.layers.smart_money import store
from orderflow_pipeline.storage import keys
from orderflow_pipeline.warehouse import queries

MAX_EXPORT_DAYS = 366  # one request covers at most a year (a bigger one is several files)
CHUNK_BYTES = 1 << 20

EXPORT_TABLES: Mapping[str, Callable[[str], str]] = {
    "footprint_1m": lambda where: queries.export_select("footprint_1m", where),
    "footprint_levels": lambda where: queries.export_select("footprint_levels", where),
    "daily_features": store.export_select,
    "signal_outcomes": outcomes.export_select,
}


class ExportError(ValueError):
    """A request the caller can fix (unknown table, bad range, bad ticker)."""


def check_request(table: str, start: date, end: date, tickers: Sequence[str] | None) -> list[str]:
    """Validate an export request; returns the tickers (deduplicated, sorted)."""
    if table not in EXPORT_TABLES:
        raise ExportError(f"unknown table {table!r}; exportable: {', '.join(EXPORT_TABLES)}")
    if start > end:
        raise ExportError(f"'from' ({start}) is after 'to' ({end})")
    if (end - start).days > MAX_EXPORT_DAYS:
        raise ExportError(f"range {start}..{end} spans {(end - start).days} days; at most {MAX_EXPORT_DAYS}")
    out: set[str] = set()
    for t in tickers or ():
        try:
            out.add(keys.check_ticker(t.strip()))
        except keys.InvalidTicker as exc:
            raise ExportError(str(exc)) from exc
    return sorted(out)


def parse_tickers(value: str | None) -> list[str]:
    """`A,B,C` -> ["A", "B", "C"] (blank entries dropped); validation is `check_request`'s."""
    return [t for t in (value or "").split(",") if t.strip()]


def export_query(table: str, start: date, end: date, tickers: Sequence[str] | None) -> tuple[str, list[Any]]:
    """(SELECT, parameters) of one export."""
    picked = check_request(table, start, end, tickers)
    where = "date BETWEEN ? AND ?"
    params: list[Any] = [start, end]
    if picked:
        where += " AND ticker IN (SELECT unnest(?::VARCHAR[]))"
        params.append(picked)
    return EXPORT_TABLES[table](where), params


def copy_parquet(
    con: duckdb.DuckDBPyConnection,
    table: str,
    start: date,
    end: date,
    out_path: str,
    tickers: Sequence[str] | None = None,
) -> int:
    """`COPY (export query) TO out_path (FORMAT parquet)`; returns the rows written.

    Raises `duckdb.CatalogException` when the table does not exist yet (nothing materialized)."""
    sql, params = export_query(table, start, end, tickers)
    target = os.path.abspath(out_path).replace("'", "''")
    row = con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)", params).fetchone()
    return int(row[0]) if row else 0


def parquet_tempfile(
    con: duckdb.DuckDBPyConnection, table: str, start: date, end: date, tickers: Sequence[str] | None
) -> tuple[str, int]:
    """Copy an export into a new private temp file: (its path, rows). The caller deletes it."""
    fd, path = tempfile.mkstemp(prefix=f"orderflow-export-{table}-", suffix=".parquet")
    os.close(fd)
    try:
        return path, copy_parquet(con, table, start, end, path, tickers)
    except BaseException:
        os.unlink(path)
        raise


def stream_file(path: str, *, delete: bool = True) -> Iterator[bytes]:
    """The file's bytes in CHUNK_BYTES pieces; the file is removed when the stream ends or is
    abandoned (client gone)."""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
    finally:
        if delete:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


# -- the summary as CSV ---------------------------------------------------------------------------

SUMMARY_CSV_COLUMNS = (
    "date", "t", "d", "p", "v", "h", "l", "r", "f", "div", "ctx_net", "ctx_st", "sc", "sig", "vel", "vel_accel",
)  # fmt: skip


def summary_csv(doc: Mapping[str, Any]) -> str:
    """The §10 document's items as CSV, one row per ticker in the document's order (sc desc), the
    date on every row so files of several days can be concatenated; empty fields for nulls."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_CSV_COLUMNS)
    d = doc.get("date") or ""
    for item in doc.get("items") or []:
        row = [d, *(item.get(c) for c in SUMMARY_CSV_COLUMNS[1:])]
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()
