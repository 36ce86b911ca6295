"""The footprint summary (SPEC §10, §11 writer side): one scored, signalled line per ticker.

Two ways to the same per-ticker aggregates, one SQL statement for both (`warehouse.queries.aggregate_*`):
- warehouse: the date's `footprint_1m` rows, aggregated in one DuckDB query (the fast path);
- lake: every footprint file of the date fetched concurrently, parsed in bulk into Arrow and run
  through the same query on an in-memory DuckDB. Used when the warehouse lacks a ticker the lake
  has for the date or holds fewer than the `min_tickers` floor (or none, or `source="lake"` is
  asked for; `warehouse.queries.coverage` is the one rule); afterwards the
  warehouse is consolidated from the lake ("self-heal") so the next run takes the fast path.

Scoring is `scoring.score_items`; context is `context.load_context`; the document's shape is
`documents.summary_document`. Nothing here re-states a formula, a shape or a query.

Unchanged summaries are not rewritten (issue 16): a re-run whose document differs from the file
only in `generated_at` keeps the file, so its bytes, its ETag in the API and its `generated_at`
(= when this content was first produced) stay put. For today's date the run still records that it
looked, as `checked_at` under `_state/`, because the freshness check (§11: the summary is ≤ 10
minutes old during market hours) asks "is the pipeline keeping up?", not "did the numbers move?";
`last_built_at` gives it the newer of the two.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.config import Settings
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.summary import scoring
from orderflow_pipeline.layers.summary.context import Context, load_context
from orderflow_pipeline.layers.summary.documents import (
    RangeDocument,
    Source,
    SummaryDocument,
    SummaryItem,
    iso_utc,
    range_document,
    summary_document,
)
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.keys import SUMMARY_LATEST, as_date, summary_key
from orderflow_pipeline.storage.lake import Lake, ObjectInfo, dumps
from orderflow_pipeline.warehouse import load, queries

log = logging.getLogger(__name__)

ASSET = "footprint_summary"
SOURCES = ("warehouse", "lake")


def checked_key(d: date | str) -> str:
    """`_state/` record of the last run that re-derived date d's summary unchanged."""
    return f"_state/footprint-summary/{as_date(d).isoformat()}.json"


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
    })  # fmt: skip


def aggregate_lake(
    lake: Lake, d: date | str, listed: Mapping[str, ObjectInfo] | None = None
) -> tuple[scoring.Aggregates, int]:
    """Per-ticker aggregates straight from the date's footprint files; also the object count.
    `listed`: the date's footprint listing when the caller already holds it (one listing a date)."""
    keys = footprint_keys(lake, d) if listed is None else sorted(listed)
    objects = lake.cat_many(keys, max_workers=64)
    return queries.aggregate_candle_table(_parse_objects(objects)), len(objects)


# -- documents ------------------------------------------------------------------------------------


def _document(
    d: date,
    agg: scoring.Aggregates,
    ctx: Context,
    source: Source,
    now: datetime | None,
    *,
    formula: str = "A",
) -> SummaryDocument:
    # `lim` compares one session's close with the session before: not a range's (formula B)
    prev = ctx.prev_close if formula == "A" else None
    items = scoring.score_items(agg, ctx.rows, formula=formula, prev_close=prev)
    return document_of_items(d, items, ctx, source, now)


def document_of_items(
    d: date, items: list[SummaryItem], ctx: Context, source: Source, now: datetime | None
) -> SummaryDocument:
    """The §10 document of items already scored and ordered (the live summary scores only the
    tickers whose candles changed, `live.engine`, and shapes its document here)."""
    return summary_document(
        d, items, generated_at=iso_utc(now), source=source,
        ctx_date=ctx.ctx_date if ctx.found else None, ctx_found=ctx.found,
        reason=None if items else "NO_DATA",
        message=None if items else f"No footprint candles for {d.isoformat()}.",
    )  # fmt: skip


def summary_from_objects(
    d: date | str, objects: Mapping[str, bytes], ctx: Context, *, now: datetime | None = None
) -> SummaryDocument:
    """The §10 document of footprint hour objects held in memory (key -> NDJSON body): the lake
    path without the lake. The live engine (`live.engine`) scores its candles through here, so a
    live item is the lake summary's item of the same candles; `source` is the lake path's."""
    d = as_date(d)
    return _document(d, queries.aggregate_candle_table(_parse_objects(objects)), ctx, "lake", now)


def summary_from_lake(
    lake: Lake, d: date | str, con: duckdb.DuckDBPyConnection | None = None, *, now: datetime | None = None
) -> SummaryDocument:
    """The §10 document built from the lake's footprint files only (no writes, no self-heal)."""
    d = as_date(d)
    agg, _ = aggregate_lake(lake, d)
    return _document(d, agg, load_context(con, d), "lake", now)


def _warehouse_holds_lake(
    listed: Mapping[str, ObjectInfo], con: duckdb.DuckDBPyConnection | None, d: date
) -> bool:
    """True when the warehouse's ingest manifest for `d` is the lake's listing of d's footprint
    files, object for object (size and fingerprint): its rows are then those files' candles
    (`consolidate` writes rows and manifest in one transaction), and reading the files again —
    one GET each on S3 — would give the same aggregates."""
    if con is None or not queries.has_table(con, "ingest_manifest"):
        return False
    known = load.manifest_for(con, d)
    return (
        bool(listed)
        and listed.keys() == known.keys()
        and all(known[k][:2] == (o.size, o.fingerprint) for k, o in listed.items())
    )


Manifest = load.Manifest  # warehouse.load owns the ingest manifest's shape


def _heal(lake: Lake, con: duckdb.DuckDBPyConnection, d: date) -> tuple[Manifest, Manifest]:
    """Load what the warehouse missed, so the next run takes the fast path (§11). Returns the
    date's ingest manifest before and after, from which the asset reports what the heal loaded."""
    before = load.manifest_for(con, d)
    try:
        result = load.consolidate(lake, con, d)
    except Exception:  # noqa: BLE001 - best effort: the summary is already written; the next run retries
        log.exception("summary %s: self-heal of the warehouse failed", d)
    else:
        log.info("summary %s: warehouse healed from the lake: %s", d, result)
    return before, load.manifest_for(con, d)


# -- writing (unchanged content is not rewritten) -------------------------------------------------------


_GENERATED_AT = re.compile(rb'"generated_at":(null|"[^"\\]*")')


def _content(doc: Any) -> Any:
    """The document as JSON gives it back, without `generated_at` (what "unchanged" compares)."""
    if not isinstance(doc, dict):
        return None
    return {k: v for k, v in doc.items() if k != "generated_at"}


def _read_bytes(lake: Lake, key: str) -> bytes | None:
    try:
        return lake.read_bytes(key)
    except (FileNotFoundError, OSError):
        return None


def _kept_body(lake: Lake, key: str, body: bytes) -> bytes | None:
    """The existing file's bytes when they hold the same content as `body` but for generated_at.

    Both are `lake.dumps` output with one key order, so blanking `generated_at` and comparing bytes
    decides the common case without parsing a full-market document; anything else is compared
    parsed (a file written by an older version, say)."""
    old = _read_bytes(lake, key)
    if old is None:
        return None
    if _GENERATED_AT.sub(b"", old, count=1) == _GENERATED_AT.sub(b"", body, count=1):
        return old
    try:
        same = _content(json.loads(old)) == _content(json.loads(body))
    except ValueError:  # an unreadable old file is replaced
        return None
    return old if same else None


def write_summary(lake: Lake, doc: Mapping[str, Any], *, now: datetime | None = None) -> bool:
    """Write the per-date file; also the latest copy when this date is the newest. True if latest.

    A file whose content (all but `generated_at`) equals `doc` is kept as it is; for today's date
    the time of this check goes to `checked_key(d)` instead (see the module docstring).
    """
    return _store(lake, doc, now)[0]


def _store(
    lake: Lake, doc: Mapping[str, Any], now: datetime | None, latest: bool = True
) -> tuple[bool, bytes | None]:
    """`write_summary`, also returning the kept file's bytes (None when `doc` was written)."""
    d = as_date(doc["date"])
    key = summary_key(d)
    body = dumps(doc)
    kept = _kept_body(lake, key, body)
    if kept is None:
        lake.write_bytes(key, body)
    else:
        body = kept
        now = now or datetime.now(timezone.utc)
        if idx_calendar.wib_date(now) == d:  # only today's freshness is ever checked
            lake.write_json(checked_key(d), {"date": d.isoformat(), "checked_at": iso_utc(now)})
    if not doc.get("items"):
        return False, kept  # an empty summary never shadows a good latest copy (L0 needs items)
    return (store_latest(lake, d, body) if latest else False), kept


def store_latest(lake: Lake, d: date, body: bytes) -> bool:
    """Make `body` (date d's file, with items) the latest copy unless that holds a newer date."""
    try:
        latest: bytes | None = lake.read_bytes(SUMMARY_LATEST)  # one read: its date and its bytes
    except FileNotFoundError:
        latest = None
    if latest == body:
        return True  # already this very file (so of date d): nothing to write
    try:
        current = as_date(json.loads(latest)["date"]) if latest is not None else None
    except (ValueError, KeyError, TypeError):  # unreadable latest copy: replace it
        current = None
    if current is not None and d < current:
        return False  # backfilling an older date never replaces a newer one
    lake.write_bytes(SUMMARY_LATEST, body)
    return True


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def last_built_at(lake: Lake, d: date | str) -> datetime | None:
    """When a run last produced date d's summary: the file's `generated_at`, or the newer
    `checked_at` of a run that re-derived the same content and kept the file. None without a file."""
    try:
        doc = lake.read_json(summary_key(d))
    except (FileNotFoundError, ValueError, OSError):
        return None
    gen = _parse_ts(doc.get("generated_at")) if isinstance(doc, dict) else None
    if gen is None:
        return None
    try:
        state = lake.read_json(checked_key(d))
    except (FileNotFoundError, ValueError, OSError):
        return gen
    checked = _parse_ts(state.get("checked_at")) if isinstance(state, dict) else None
    return max(gen, checked) if checked is not None else gen


@dataclass(frozen=True)
class Built:
    """What `build` did for a date: the document a reader sees, and the warehouse's ingest
    manifest of the date before and after the self-heal (None when no heal ran)."""

    doc: SummaryDocument
    heal: tuple[Manifest, Manifest] | None = None


def build_summary(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    *,
    source: str | None = None,
    min_tickers: int = Settings.min_warehouse_tickers,
    now: datetime | None = None,
) -> SummaryDocument:
    """Build, write and return the summary of date `d` (`build`'s document)."""
    return build(lake, con, d, source=source, min_tickers=min_tickers, now=now).doc


def build(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    *,
    source: str | None = None,
    min_tickers: int = Settings.min_warehouse_tickers,
    now: datetime | None = None,
    ctx: Context | None = None,
    traded: set[str] | None = None,
    latest: bool = True,
) -> Built:
    """Build and write the summary of date `d` (§10, §11 writer side).

    A backfill (`backfill.build_many`) passes `ctx` (`load_context`), `traded` (the footprint
    files' tickers) and `latest=False` (it updates the latest copy once); None computes them.
    Each input is read once (issue 28): the date's footprint listing serves the coverage test,
    the manifest comparison and the lake path; the per-date file and the latest copy are read
    once each to decide whether to rewrite them.

    The warehouse path is taken when the warehouse holds every ticker of the lake's footprint
    files for `d` and at least `min_tickers` (`Settings.min_warehouse_tickers`); otherwise the
    lake path builds it and heals the warehouse. `con` is a write connection when the lake path may run (it self-heals the warehouse); with a
    read-only connection or None the summary is still built, only the heal is skipped. The
    returned document is the one a reader sees (when the content is unchanged, that is the kept
    file with its original `generated_at`).
    """
    d = as_date(d)
    if source not in (None, *SOURCES):
        raise ValueError(f"source must be one of {SOURCES} or None, got {source!r}")
    now = now or datetime.now(timezone.utc)
    agg = None
    if con is not None and source != "lake":
        agg = queries.aggregate_date(con, d)  # its row count is the warehouse's ticker count
    # Fast path (§11, issue 19): the warehouse holds every ticker the lake has for d, and at least
    # `min_tickers` (the configured floor); `source="warehouse"` keeps it regardless.
    listed: dict[str, ObjectInfo] | None = None
    if agg is not None and source is None:
        listed = footprint_objects(lake, d) if traded is None else None
        use_lake = not queries.coverage(
            lake, d, agg.ticker.tolist(), floor=min_tickers, listed=listed, lake_tickers=traded
        ).fast_path
        if use_lake and listed is None:  # the lake path needs the objects themselves
            listed = footprint_objects(lake, d)
    else:
        use_lake = agg is None
    context = load_context(con, d) if ctx is None else ctx
    if use_lake and listed is not None and agg is not None and _warehouse_holds_lake(listed, con, d):
        # The lake path's answer without reading the lake again: the warehouse rows of d came
        # from exactly the listed files (same validator, same aggregate query), so the document
        # is the one the files give (tests/test_s3_e2e.py compares the two).
        assert con is not None
        doc = _document(d, agg, context, "lake", now)
    elif use_lake:
        lake_agg, _ = aggregate_lake(lake, d, listed)
        doc = _document(d, lake_agg, context, "lake", now)
    else:
        assert con is not None and agg is not None
        doc = _document(d, agg, context, "warehouse", now)
    _, kept = _store(lake, doc, now, latest)
    heal = _heal(lake, con, d) if use_lake and con is not None and doc["items"] else None
    if kept is not None:
        # Same content as `doc`: the kept file is `doc` with its own (older) generated_at.
        m = _GENERATED_AT.search(kept)
        doc = {**doc, "generated_at": json.loads(m.group(1)) if m else None}
    return Built(doc, heal)


def signal_counts(doc: Mapping[str, Any]) -> dict[str, int]:
    return dict(sorted(Counter(i["sig"] for i in doc.get("items", [])).items()))


# -- range (formula B) ----------------------------------------------------------------------------


def compute_range(
    con: duckdb.DuckDBPyConnection, start: date | str, end: date | str, *, now: datetime | None = None
) -> RangeDocument:
    """Formula B over the trading days start..end (§9, §10 item shape), from the warehouse.

    Context = the newest daily_features before `start` (same staleness rule as the summary).
    Used by `GET /footprint/range` and, for single previous dates, by the read-side fallback.
    """
    a, b = as_date(start), as_date(end)
    if b < a:
        raise ValueError(f"range end {b} is before its start {a}")
    agg = queries.aggregate_days(con, idx_calendar.trading_days(a, b))
    doc = _document(b, agg, load_context(con, a), "warehouse", now, formula="B")
    if not doc["items"]:
        doc["message"] = f"No footprint candles between {a.isoformat()} and {b.isoformat()}."
    return range_document(doc, a, b)


# -- integrity checks (§11) -----------------------------------------------------------------------


def check_sample(d: date, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items `summary_matches_warehouse` compares with the warehouse (seeded by the date)."""
    return random.Random(d.toordinal()).sample(items, min(5, len(items)))


def checks(
    lake: Lake,
    con: duckdb.DuckDBPyConnection | None,
    d: date | str,
    doc: Mapping[str, Any] | None = None,
    *,
    warehouse: tuple[int, Mapping[str, tuple[Any, Any, Any, Any]]] | None = None,
) -> list[CheckOutcome]:
    """The §11 summary checks of date `d`, on its file in the lake, or on `doc` when the caller
    holds what that file now contains (the asset: `build`'s document, not read back).
    `warehouse`: the date's warehouse ticker count and the `check_sample` tickers' (Σvol, Σdelta,
    max high, min low) when the caller queried them for many dates at once (`backfill.checks_many`)."""
    d = as_date(d)
    key = summary_key(d)
    if doc is None:
        try:
            doc = lake.read_json(key)
        except FileNotFoundError:
            doc = None
        except ValueError as exc:
            doc = {"items": [], "_error": str(exc)}
    items: list[dict[str, Any]] = list(doc.get("items", [])) if doc else []
    out = [
        CheckOutcome.of(
            "summary_has_items",
            bool(items),
            f"summary {key} has {len(items)} items" if doc else f"summary {key} does not exist",
            {"items": len(items), "source": (doc or {}).get("source")},
        )
    ]
    bad_sc = [i["t"] for i in items if not (0.0 <= float(i.get("sc", -1)) <= 1.0)]
    out.append(
        CheckOutcome.of(
            "summary_scores_in_range",
            not bad_sc,
            "every sc within [0, 1]" if not bad_sc else f"{len(bad_sc)} items with sc outside [0, 1]",
            {"tickers": bad_sc[:50]},
        )
    )
    bad_sig = [i["t"] for i in items if i.get("sig") not in scoring.SIGNALS]
    out.append(
        CheckOutcome.of(
            "summary_signals_in_table",
            not bad_sig,
            "every sig in the signal table" if not bad_sig else f"{len(bad_sig)} items with an unknown sig",
            {"tickers": bad_sig[:50]},
        )
    )
    if con is None or (warehouse is None and not queries.has_table(con, load.ASSET)):
        out.append(CheckOutcome.of("summary_count_within_warehouse", True, "warehouse not readable: skipped"))
        return out
    n_wh = queries.tickers_for(con, d) if warehouse is None else warehouse[0]
    out.append(
        CheckOutcome.of(
            "summary_count_within_warehouse",
            len(items) <= n_wh,
            f"summary lists {len(items)} tickers, warehouse holds {n_wh} for {d}",
            {"items": len(items), "warehouse_tickers": n_wh},
        )
    )
    sample = check_sample(d, items)
    mismatched: list[dict[str, Any]] = []
    for item in sample:
        totals = warehouse[1].get(item["t"]) if warehouse is not None else None
        vol, delta, high, low = queries.ticker_totals(con, d, item["t"]) if totals is None else totals
        d_pct = scoring.round_js(scoring.delta_pct(delta, vol), 2) if vol is not None else None
        got = {"v": vol, "h": high, "l": low, "d": d_pct}
        want = {k: item.get(k) for k in got}
        if got != want:
            mismatched.append({"t": item["t"], "summary": want, "warehouse": got})
    out.append(
        CheckOutcome.of(
            "summary_matches_warehouse",
            not mismatched,
            f"summary totals agree with the warehouse for {len(sample)} sampled tickers"
            if not mismatched
            else f"{len(mismatched)} of {len(sample)} sampled tickers disagree with the warehouse",
            {"sampled": [i["t"] for i in sample], "mismatched": mismatched},
        )
    )
    return out
