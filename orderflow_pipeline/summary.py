"""The footprint summary (SPEC §10, §11 writer side): one scored, signalled line per ticker.

Two ways to the same per-ticker aggregates, one SQL statement for both:
- warehouse: the date's `footprint_1m` rows, aggregated in one DuckDB query (the fast path);
- lake: every footprint file of the date fetched concurrently, parsed in bulk into Arrow and run
  through the same query on an in-memory DuckDB. Used when the warehouse has fewer than
  `min_tickers` tickers for the date (or none, or `source="lake"` is asked for); afterwards the
  warehouse is consolidated from the lake ("self-heal") so the next run takes the fast path.

Scoring is `scoring.score_items`; context is `context.load_context`. Nothing here re-states a
formula.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from . import idx_calendar, scoring
from .candles import validate_objects
from .checks import CheckOutcome
from .context import Context, load_context
from .inventory import footprint_objects
from .keys import (
    SUMMARY_LATEST,
    as_date,
    summary_key,
)
from .lake import Lake, dumps
from .warehouse import consolidate

log = logging.getLogger(__name__)

ASSET = "footprint_summary"
SOURCES = ("warehouse", "lake")
_AGG_COLUMNS = ("ticker", "open", "high", "low", "close", "vol", "delta", "vol_w", "delta_w")

# §9: open/close by t0, extremes, sums; velocity window = t0 > cutoff − 60 min, cutoff = newest t0
# of any ticker in the set. `{rows}` is a relation with ticker, time_key, open, high, low, close,
# vol, delta (one row per ticker-minute).
_AGG_SQL = """
WITH c AS ({rows}),
cut AS (SELECT max(time_key) AS cutoff FROM c)
SELECT ticker,
       arg_min(open, time_key) AS open, max(high) AS high, min(low) AS low,
       arg_max(close, time_key) AS close,
       sum(vol)::BIGINT AS vol, sum(delta)::BIGINT AS delta,
       coalesce(sum(vol) FILTER (WHERE time_key > cutoff - {window}), 0)::BIGINT AS vol_w,
       coalesce(sum(delta) FILTER (WHERE time_key > cutoff - {window}), 0)::BIGINT AS delta_w
FROM c, cut
GROUP BY ticker
ORDER BY ticker
"""


def _aggregate(con: duckdb.DuckDBPyConnection, rows_sql: str, params: Sequence[Any]) -> scoring.Aggregates:
    sql = _AGG_SQL.format(rows=rows_sql, window=scoring.VELOCITY_WINDOW_MS)
    cols = con.execute(sql, list(params)).fetchnumpy()
    return scoring.Aggregates.from_columns({k: np.asarray(cols[k]) for k in _AGG_COLUMNS})


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
    return bool(row and row[0])


def warehouse_tickers(con: duckdb.DuckDBPyConnection | None, d: date | str) -> int:
    """Distinct tickers the warehouse holds for `d` (0 when there is no warehouse or table)."""
    if con is None or not _has_table(con, "footprint_1m"):
        return 0
    row = con.execute("SELECT count(DISTINCT ticker) FROM footprint_1m WHERE date = ?", [as_date(d)]).fetchone()
    return int(row[0]) if row else 0


def aggregate_warehouse(con: duckdb.DuckDBPyConnection, d: date | str) -> scoring.Aggregates:
    rows = "SELECT ticker, time_key, open, high, low, close, vol, delta FROM footprint_1m WHERE date = ?"
    return _aggregate(con, rows, [as_date(d)])


# -- lake path ------------------------------------------------------------------------------------

def footprint_keys(lake: Lake, d: date | str) -> list[str]:
    """Every footprint file of WIB date `d`: the warehouse layer's listing, so both read the same set."""
    return sorted(footprint_objects(lake, d))


def _parse_objects(objects: Mapping[str, bytes]) -> pa.Table:
    """Candles of the fetched objects through `candles.validate_objects`, the one definition of a
    valid candle (the warehouse loads with it, so the lake path and the healed warehouse agree line
    for line; rejected lines are the footprint/warehouse layers' to quarantine, not ours)."""
    tbl = validate_objects(dict(objects)).candles
    return pa.table({
        "ticker": tbl.column("ticker").cast(pa.string()),
        **{k: tbl.column(k).cast(pa.int64()) for k in ("time_key", "open", "high", "low", "close", "vol", "delta")},
        # validate_objects keeps object order then time_key; a later duplicate line is already resolved
        "seq": pa.array(np.arange(tbl.num_rows, dtype=np.int64)),
    })


def aggregate_lake(lake: Lake, d: date | str) -> tuple[scoring.Aggregates, int]:
    """Per-ticker aggregates straight from the date's footprint files; also the object count."""
    keys = footprint_keys(lake, d)
    objects = lake.cat_many(keys, max_workers=64)
    candles = _parse_objects(objects)
    mem = duckdb.connect()
    try:
        mem.register("lake_candles", candles)
        # Duplicate t0 of one ticker (a repeated line): the later line wins (§6).
        rows = (
            "SELECT ticker, time_key, open, high, low, close, vol, delta FROM lake_candles "
            "QUALIFY row_number() OVER (PARTITION BY ticker, time_key ORDER BY seq DESC) = 1"
        )
        return _aggregate(mem, rows, []), len(objects)
    finally:
        mem.close()


# -- documents ------------------------------------------------------------------------------------


def _iso_now(now: datetime | None) -> str:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(d: date, items: list[dict[str, Any]], ctx: Context, source: str, now: datetime | None) -> dict[str, Any]:
    empty = not items
    return {
        "status": "NO_DATA" if empty else "OK",
        "date": d.isoformat(),
        "generated_at": _iso_now(now),
        "source": source,
        "ctx_date": ctx.ctx_date.isoformat() if ctx.found and ctx.ctx_date else None,
        "ctx_found": bool(ctx.found),
        "count": len(items),
        "reason": "NO_DATA" if empty else None,
        "message": f"No footprint candles for {d.isoformat()}." if empty else None,
        "items": items,
    }


def summary_from_lake(
    lake: Lake, d: date | str, con: duckdb.DuckDBPyConnection | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The §10 document built from the lake's footprint files only (no writes, no self-heal)."""
    d = as_date(d)
    agg, _ = aggregate_lake(lake, d)
    ctx = load_context(con, d)
    return _document(d, scoring.score_items(agg, ctx.rows), ctx, "lake", now)


def summary_from_warehouse(
    con: duckdb.DuckDBPyConnection, d: date | str, *, now: datetime | None = None
) -> dict[str, Any]:
    d = as_date(d)
    ctx = load_context(con, d)
    return _document(d, scoring.score_items(aggregate_warehouse(con, d), ctx.rows), ctx, "warehouse", now)


def _heal(lake: Lake, con: duckdb.DuckDBPyConnection, d: date) -> None:
    """Load what the warehouse missed, so the next run takes the fast path (§11)."""
    try:
        result = consolidate(lake, con, d)
    except Exception:  # noqa: BLE001 - best effort: the summary is already written; the next run retries
        log.exception("summary %s: self-heal of the warehouse failed", d)
        return
    log.info("summary %s: warehouse healed from the lake: %s", d, result)


def write_summary(lake: Lake, doc: Mapping[str, Any]) -> bool:
    """Write the per-date file; also the latest copy when this date is the newest. True if latest."""
    d = as_date(doc["date"])
    body = dumps(doc)
    lake.write_bytes(summary_key(d), body)
    if not doc.get("items"):
        return False  # an empty summary never shadows a good latest copy (L0 needs items)
    try:
        current = as_date(lake.read_json(SUMMARY_LATEST)["date"])
    except FileNotFoundError:
        current = None
    except (ValueError, KeyError, TypeError):  # unreadable latest copy: replace it
        current = None
    if current is not None and d < current:
        return False  # backfilling an older date never replaces a newer one
    lake.write_bytes(SUMMARY_LATEST, body)
    return True


def build_summary(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    *,
    source: str | None = None,
    min_tickers: int = 200,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build, write and return the summary of date `d` (§10, §11 writer side).

    `con` is a write connection when the lake path may run (it self-heals the warehouse); with a
    read-only connection or None the summary is still built, only the heal is skipped.
    """
    d = as_date(d)
    if source not in (None, *SOURCES):
        raise ValueError(f"source must be one of {SOURCES} or None, got {source!r}")
    agg = None
    if con is not None and source != "lake" and _has_table(con, "footprint_1m"):
        agg = aggregate_warehouse(con, d)  # one query: its row count is the warehouse's ticker count
    use_lake = agg is None or (source is None and len(agg) < min_tickers)
    if use_lake:
        doc = summary_from_lake(lake, d, con, now=now)
        write_summary(lake, doc)
        if con is not None and doc["items"]:
            _heal(lake, con, d)
        return doc
    assert con is not None and agg is not None
    ctx = load_context(con, d)
    doc = _document(d, scoring.score_items(agg, ctx.rows), ctx, "warehouse", now)
    write_summary(lake, doc)
    return doc


def signal_counts(doc: Mapping[str, Any]) -> dict[str, int]:
    return dict(sorted(Counter(i["sig"] for i in doc.get("items", [])).items()))


# -- range (formula B) ----------------------------------------------------------------------------


def compute_range(
    con: duckdb.DuckDBPyConnection, start: date | str, end: date | str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Formula B over the trading days start..end (§9, §10 item shape), from the warehouse.

    Context = the newest daily_features before `start` (same staleness rule as the summary).
    Used by `GET /footprint/range` and, for single previous dates, by the read-side fallback.
    """
    a, b = as_date(start), as_date(end)
    if b < a:
        raise ValueError(f"range end {b} is before its start {a}")
    days = idx_calendar.trading_days(a, b)
    ctx = load_context(con, a)
    if days and _has_table(con, "footprint_1m"):
        rows = (
            "SELECT ticker, time_key, open, high, low, close, vol, delta FROM footprint_1m "
            "WHERE date BETWEEN ? AND ? AND date IN (SELECT unnest(?::DATE[]))"
        )
        agg = _aggregate(con, rows, [a, b, days])
    else:
        agg = scoring.Aggregates.from_columns({k: [] for k in _AGG_COLUMNS})
    doc = _document(b, scoring.score_items(agg, ctx.rows, formula="B"), ctx, "warehouse", now)
    doc["from"], doc["to"] = a.isoformat(), b.isoformat()
    if not doc["items"]:
        doc["message"] = f"No footprint candles between {a.isoformat()} and {b.isoformat()}."
    return doc


# -- integrity checks (§11) -----------------------------------------------------------------------


def checks(lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str) -> list[CheckOutcome]:
    d = as_date(d)
    key = summary_key(d)
    try:
        doc = lake.read_json(key)
    except FileNotFoundError:
        doc = None
    except ValueError as exc:
        doc = {"items": [], "_error": str(exc)}
    items: list[dict[str, Any]] = list(doc.get("items", [])) if doc else []
    out = [
        CheckOutcome(
            "summary_has_items", ASSET, bool(items), "ERROR",
            f"summary {key} has {len(items)} items" if doc else f"summary {key} does not exist",
            {"items": len(items), "source": (doc or {}).get("source")},
        )
    ]
    bad_sc = [i["t"] for i in items if not (0.0 <= float(i.get("sc", -1)) <= 1.0)]
    out.append(CheckOutcome(
        "summary_scores_in_range", ASSET, not bad_sc, "WARN",
        "every sc within [0, 1]" if not bad_sc else f"{len(bad_sc)} items with sc outside [0, 1]",
        {"tickers": bad_sc[:50]},
    ))
    bad_sig = [i["t"] for i in items if i.get("sig") not in scoring.SIGNALS]
    out.append(CheckOutcome(
        "summary_signals_in_table", ASSET, not bad_sig, "WARN",
        "every sig in the signal table" if not bad_sig else f"{len(bad_sig)} items with an unknown sig",
        {"tickers": bad_sig[:50]},
    ))
    if con is None or not _has_table(con, "footprint_1m"):
        out.append(CheckOutcome(
            "summary_count_within_warehouse", ASSET, True, "WARN", "warehouse not readable: skipped", {}
        ))
        return out
    n_wh = warehouse_tickers(con, d)
    out.append(CheckOutcome(
        "summary_count_within_warehouse", ASSET, len(items) <= n_wh, "WARN",
        f"summary lists {len(items)} tickers, warehouse holds {n_wh} for {d}",
        {"items": len(items), "warehouse_tickers": n_wh},
    ))
    sample = random.Random(d.toordinal()).sample(items, min(5, len(items)))
    mismatched: list[dict[str, Any]] = []
    for item in sample:
        row = con.execute(
            "SELECT sum(vol), sum(delta), max(high), min(low) FROM footprint_1m WHERE date = ? AND ticker = ?",
            [d, item["t"]],
        ).fetchone()
        vol, delta, high, low = row if row else (None, None, None, None)
        d_pct = scoring.round_js(scoring.delta_pct(delta, vol), 2) if vol is not None else None
        got = {"v": vol, "h": high, "l": low, "d": d_pct}
        want = {k: item.get(k) for k in got}
        if got != want:
            mismatched.append({"t": item["t"], "summary": want, "warehouse": got})
    out.append(CheckOutcome(
        "summary_matches_warehouse", ASSET, not mismatched, "WARN",
        f"summary totals agree with the warehouse for {len(sample)} sampled tickers"
        if not mismatched else f"{len(mismatched)} of {len(sample)} sampled tickers disagree with the warehouse",
        {"sampled": [i["t"] for i in sample], "mismatched": mismatched},
    ))
    return out
