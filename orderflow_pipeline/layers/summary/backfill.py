"""The summary of many dates in one call (the asset's single-run backfill), each input read once.

Why: built date by date, a year's summary asked for the same things once per date — a footprint
listing (a stat per hour file) for the fast-path test, three context queries (the previous closes
scanning 45 days of candles each time), the table checks, and five per-ticker queries for the
sampled check — ~60 ms a date of fixed costs against a few ms of scoring. Here the dates'
footprint tickers come from one pass over the folders (`inventory.footprint_tickers_by_date`),
their contexts from three queries (`context.load_contexts`), and their checks' warehouse figures
from two; each date is then built and checked by the same `build.build` and `build.checks`, so a
document is the one `build` gives alone (tests/test_summary.py compares them).

One thing a date's build can change for a later date: a self-heal loads that date's candles into
`footprint_1m`, which later dates read as their previous closes. After a heal that loaded or removed
anything, the remaining dates' contexts are gathered again. The latest copy
(`features/footprint-summary.json`) is updated once, after the last date, not once per date.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import duckdb

from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.summary.build import Built, build, check_sample, checks, store_latest
from orderflow_pipeline.layers.summary.context import load_contexts
from orderflow_pipeline.storage.inventory import footprint_tickers_by_date
from orderflow_pipeline.storage.keys import as_date, summary_key
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import load, queries

Totals = tuple[Any, Any, Any, Any]  # (Σvol, Σdelta, max high, min low) of a ticker-day


def build_many(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    dates: Iterable[date | str],
    *,
    source: str | None = None,
    min_tickers: int = Settings.min_warehouse_tickers,
    now: datetime | None = None,
) -> Iterator[tuple[date, Built]]:
    """`build` of every date of `dates`, in date order, yielded as each is written."""
    days = sorted({as_date(d) for d in dates})
    if not days:
        return
    traded = footprint_tickers_by_date(lake, days) if source is None and con is not None else {}
    contexts = load_contexts(con, days)
    newest: date | None = None  # the newest date with items: the latest copy's candidate
    for i, d in enumerate(days):
        built = build(
            lake, con, d, source=source, min_tickers=min_tickers, now=now, ctx=contexts[d], traded=traded.get(d),
            latest=False,
        )  # fmt: skip
        if built.heal is not None and built.heal[0] != built.heal[1] and i + 1 < len(days):
            contexts = load_contexts(con, days[i + 1 :])  # the heal's candles are later dates' history
        if built.doc["items"]:
            newest = d
        yield d, built
    if newest is not None:
        # Date by date, each newer date replaced the copy the one before wrote: the end state is
        # the newest date's file (unless the copy already held a newer date), written once.
        store_latest(lake, newest, lake.read_bytes(summary_key(newest)))


def checks_many(
    lake: Lake, con: duckdb.DuckDBPyConnection | None, docs: Mapping[date, Mapping[str, Any]]
) -> dict[date, list[CheckOutcome]]:
    """`checks` of each date's document, the warehouse figures of all dates in two queries.

    Run after the dates are built: a date's build (its self-heal) only ever writes that date's
    rows, so each date's figures are those its checks right after its build would read."""
    days = sorted(docs)
    if con is None or not days or not queries.has_table(con, load.ASSET):
        return {d: checks(lake, con, d, doc=docs[d]) for d in days}
    counts = dict(
        con.execute(
            "SELECT date, count(DISTINCT ticker) FROM footprint_1m "
            "WHERE date IN (SELECT unnest(?::DATE[])) GROUP BY date",
            [days],
        ).fetchall()
    )
    pairs = [(d, str(i["t"])) for d in days for i in check_sample(d, list(docs[d].get("items", [])))]
    totals: dict[date, dict[str, Totals]] = {d: {} for d in days}
    if pairs:
        for d, t, vol, delta, high, low in con.execute(
            "SELECT date, ticker, sum(vol), sum(delta), max(high), min(low) FROM footprint_1m "
            "WHERE (date, ticker) IN (SELECT (unnest(?::DATE[]), unnest(?::VARCHAR[]))) GROUP BY date, ticker",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        ).fetchall():
            totals[d][t] = (vol, delta, high, low)
    return {d: checks(lake, con, d, doc=docs[d], warehouse=(int(counts.get(d, 0)), totals[d])) for d in days}
