"""Build daily_features for a set of dates: sync the parsed broker days, compute, write.

1. `sync_broker_daily` keeps `broker_daily` in step with the lake, parsing only new or changed
   objects (or objects parsed under another category table / parser rules), so a re-run does no
   work. Every object is parsed on its own: any failure quarantines that object with its reason,
   is logged with its key, and the run goes on with the others.
2. `features_from_table` computes the features of the dates from `broker_daily` (each ticker's
   HISTORY_SESSIONS earlier sessions included) and writes `daily_features` and the lake files.
3. `build_daily_features` is both, for the asset, the CLI and the benchmark.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import pandas as pd

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.smart_money.broksum import BrokerDay, parse_broksum, parse_digest
from orderflow_pipeline.layers.smart_money.categories import default_categories
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.layers.smart_money.features import STATES, compute_features
from orderflow_pipeline.layers.smart_money.listing import list_broksum
from orderflow_pipeline.layers.smart_money.store import (
    implausible_broker_days,
    load_history,
    replace_broker_days,
    stored_broker_days,
    write_features_table,
    write_lake_files,
)
from orderflow_pipeline.parallel import process_pool, worker_count
from orderflow_pipeline.storage.keys import as_date
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import QuarantineBatch
from orderflow_pipeline.warehouse.schema import ensure_schema

LAYER = "daily_features"  # quarantine folder of this layer
ASSET = "daily_features"
# How far back (trading days) a run looks in the lake for broker summaries the table lacks.
LAKE_LOOKBACK_DAYS = 60
QUARANTINE_SAMPLE = 2000  # bytes of a rejected object kept with its reason
# Objects read and parsed per batch. Reading a whole year at once held every file in memory
# (71k summaries of ~25 KB: 1.7 GB, the backfill's peak RSS); a batch bounds it.
PARSE_BATCH = 512
# Below this many objects to parse, parse in this process: starting the worker processes costs
# about a second, more than the 5-minute schedule's few hundred files take to parse.
POOL_MIN_OBJECTS = 4000
# "fork": the workers run only `parse_batch` (json + arithmetic: no lock, logger, thread or DuckDB
# of the parent is touched), and start in milliseconds. "spawn"/"forkserver" re-import the caller's
# __main__ (a script without a main guard then fails) and pay a second of imports per run.
POOL_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    listed: int = 0
    parsed: int = 0  # objects read and parsed this run (new or changed)
    sessions: int = 0  # of those, trading sessions
    non_trading: int = 0  # value "0"/empty
    removed: int = 0  # table rows whose object left the lake (or was quarantined)
    quarantine: QuarantineBatch = field(default_factory=lambda: QuarantineBatch(LAYER))
    quarantine_dates: dict[str, date] = field(default_factory=dict)  # source key -> date
    reasons: dict[str, str] = field(default_factory=dict)  # source key -> reason
    # valid tickers listed per date (the listing the sync worked from; the checks reuse it)
    tickers: dict[date, set[str]] = field(default_factory=dict)

    def reject(self, key: str, d: date, reason: str, sample: bytes) -> None:
        """Quarantine one object with its reason, and name it in the log."""
        self.quarantine.add(key, 0, reason, sample[:QUARANTINE_SAMPLE])
        self.quarantine_dates[key] = d
        self.reasons[key] = reason
        log.warning("%s: quarantined %s: %s", LAYER, key, reason)


def _reason(exc: Exception) -> str:
    if isinstance(exc, BroksumError):
        return str(exc)
    return f"unreadable: {type(exc).__name__}: {exc}"[:300]


# What a worker returns per object: the parsed day (None = non-trading), or the quarantine reason.
Parsed = tuple[BrokerDay | None, str | None]


def parse_batch(items: Sequence[tuple[str, date, bytes]], cats: Mapping[str, str]) -> list[Parsed]:
    """Parse (ticker, date, bytes) objects; a failure becomes its reason, never an exception."""
    out: list[Parsed] = []
    for ticker, d, data in items:
        try:
            out.append((parse_broksum(data, ticker, d, cats), None))
        except Exception as exc:  # parse_broksum raises only BroksumError; nothing else may cost the run
            out.append((None, _reason(exc)))
    return out


def _parsed_batches(
    lake: Lake, batches: Sequence[list[tuple[str, date, str]]], cats: Mapping[str, str]
) -> Iterator[tuple[dict[str, bytes], list[Parsed]]]:
    """(bytes read, parse results) of each batch, in order.

    Parsing is pure CPU (json + the broker sums, ~0.3 ms per 25 KB file), so for a large sync it
    runs in one worker process per core while this process reads the next batches; at most two
    batches per worker are in flight, so memory stays bounded whatever the number of days."""
    workers = worker_count() if sum(len(b) for b in batches) >= POOL_MIN_OBJECTS else 1
    if workers == 1:
        for batch in batches:
            blobs = lake.cat_many([key for _, _, key in batch])
            yield blobs, parse_batch([(t, d, blobs[k]) for t, d, k in batch if k in blobs], cats)
        return
    with process_pool(workers, POOL_START_METHOD) as pool:  # workers die with this process
        pending: list[tuple[dict[str, bytes], Future[list[Parsed]]]] = []
        for batch in batches:
            blobs = lake.cat_many([key for _, _, key in batch])
            items = [(t, d, blobs[k]) for t, d, k in batch if k in blobs]
            pending.append((blobs, pool.submit(parse_batch, items, dict(cats))))
            while len(pending) > 2 * workers:
                done_blobs, fut = pending.pop(0)
                yield done_blobs, fut.result()
        for done_blobs, fut in pending:
            yield done_blobs, fut.result()


def sync_broker_daily(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[date],
    *,
    categories: Mapping[str, str] | None = None,
    force_dates: Iterable[date] = (),
    mirror_dates: Iterable[date] | None = None,
) -> SyncResult:
    """Bring `broker_daily` in line with the lake's broker summaries of `dates` (idempotent upsert).

    Only objects that are new, changed (fingerprint) or parsed under another category table or
    parser rules are read (concurrently, Lake.cat_many), plus every object of `force_dates`. For
    `mirror_dates` (default: all `dates`) a row whose object left the lake is deleted; on other
    (look-back) dates parsed history is kept even if the lake no longer holds the object (lake
    retention must not erase the warehouse's history). Non-trading days are kept as
    `traded = false` rows so they are not re-read on every run. A quarantined object's row is
    deleted: a file that turned bad is no longer a session.
    """
    cats = default_categories() if categories is None else categories
    digest = parse_digest(cats)
    res = SyncResult()
    dates = sorted(set(dates))
    if not dates:
        return res
    listing = list_broksum(lake, dates)
    res.listed = len(listing.objects)
    res.tickers = {d: set() for d in dates}
    for ticker, d in listing.objects:
        res.tickers[d].add(ticker)
    for key, (d, reason) in sorted(listing.invalid.items()):
        res.reject(key, d, reason, b"")
    known = stored_broker_days(con, dates)
    forced = set(force_dates)
    todo = {k: v for k, v in listing.objects.items() if k[1] in forced or known.get(k) != (v[1], digest)}
    mirror = set(dates if mirror_dates is None else mirror_dates)
    gone = [k for k in known if k not in listing.objects and k[1] in mirror]
    # A stored day an older parser let through, whose object is not re-read now (e.g. it left the
    # lake on a look-back date): it leaves the table with a quarantine entry naming it.
    for ticker, d, key, reason in implausible_broker_days(con, dates):
        if (ticker, d) not in todo and (ticker, d) not in gone:
            res.reject(key, d, reason, b"")
            gone.append((ticker, d))
    ordered = sorted(todo.items())
    batches = [
        [(ticker, d, key) for (ticker, d), (key, _fp) in ordered[i : i + PARSE_BATCH]]
        for i in range(0, len(ordered), PARSE_BATCH)
    ]
    rows: list[tuple[Any, ...]] = []
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for batch, (blobs, parsed) in zip(batches, _parsed_batches(lake, batches, cats), strict=True):
        results = iter(parsed)
        for ticker, d, key in batch:
            data = blobs.get(key)
            if data is None:  # vanished between listing and read: treat as missing
                gone.append((ticker, d))
                continue
            fp = todo[(ticker, d)][1]
            res.parsed += 1
            day, why = next(results)
            if why is not None:
                res.reject(key, d, why, data)
                gone.append((ticker, d))
                continue
            if day is None:
                res.non_trading += 1
                rows.append((ticker, d, False, None, None, None, None, None, None, 0, key, fp, digest, now))
            else:
                res.sessions += 1
                rows.append(
                    (
                        ticker,
                        d,
                        True,
                        day.value,
                        day.vwap,
                        day.volume,
                        day.sm_buy,
                        day.sm_sell,
                        day.sm_net,
                        day.brokers,
                        key,
                        fp,
                        digest,
                        now,
                    )
                )
    res.removed = replace_broker_days(con, gone, rows)
    return res


@dataclass
class DailyFeaturesResult:
    dates: list[date]
    tickers: int = 0
    rows: int = 0
    objects_listed: int = 0
    objects_parsed: int = 0
    sessions_parsed: int = 0
    non_trading: int = 0
    quarantined: int = 0
    insufficient_history: int = 0
    states: dict[str, int] = field(default_factory=dict)
    lake_files_written: int = 0
    seconds: float = 0.0
    quarantine_keys: list[str] = field(default_factory=list)
    quarantined_files: dict[str, str] = field(default_factory=dict)  # source key -> reason
    # Each date's own rows: a backfill's totals are not any one date's figures.
    per_date: dict[date, dict[str, Any]] = field(default_factory=dict)
    # `broksum_tickers_by_date` of the dates, from the sync's own listing (the checks' input)
    broksum: dict[date, set[str]] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "dates": len(self.dates),
            "first_date": self.dates[0].isoformat() if self.dates else None,
            "last_date": self.dates[-1].isoformat() if self.dates else None,
            "tickers": self.tickers,
            "rows": self.rows,
            "objects_listed": self.objects_listed,
            "objects_parsed": self.objects_parsed,
            "sessions_parsed": self.sessions_parsed,
            "non_trading": self.non_trading,
            "quarantined": self.quarantined,
            "insufficient_history": self.insufficient_history,
            "states": dict(self.states),
            "lake_files_written": self.lake_files_written,
            "seconds": round(self.seconds, 3),
            # The run log names every rejected file (first 50) with its reason.
            "quarantined_files": dict(sorted(self.quarantined_files.items())[:50]),
        }


def build_daily_features(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Iterable[date | str],
    *,
    categories: Mapping[str, str] | None = None,
    force: bool = False,
    lookback_days: int = LAKE_LOOKBACK_DAYS,
) -> DailyFeaturesResult:
    """daily_features for `dates` (any set of trading days; one call for a whole backfill).

    The broker summaries of the dates and of the `lookback_days` trading days before the first one
    are synced into `broker_daily` (only new/changed objects are read), so history a previous run
    never parsed is picked up; features use each ticker's HISTORY_SESSIONS sessions before the
    first date. `force` re-reads the objects of the requested dates.
    """
    t0 = time.perf_counter()
    ds = sorted({as_date(d) for d in dates})
    res = DailyFeaturesResult(ds)
    if not ds:
        return res
    ensure_schema(con)
    earlier = idx_calendar.previous_sessions(ds[0], lookback_days)
    sync = sync_broker_daily(
        lake, con, [*earlier, *ds], categories=categories, force_dates=ds if force else (), mirror_dates=ds
    )
    by_date: dict[date, QuarantineBatch] = {}
    for item in sync.quarantine.items:
        by_date.setdefault(sync.quarantine_dates[item.source], QuarantineBatch(LAYER)).items.append(item)
    for d, batch in sorted(by_date.items()):
        res.quarantine_keys += batch.write(lake, d)
    features_from_table(lake, con, ds, res)
    res.objects_listed, res.objects_parsed = sync.listed, sync.parsed
    res.sessions_parsed, res.non_trading = sync.sessions, sync.non_trading
    res.quarantined = len(sync.quarantine)
    res.quarantined_files = dict(sync.reasons)
    res.broksum = {d: sync.tickers.get(d, set()) for d in ds}
    res.seconds = time.perf_counter() - t0
    return res


def features_from_table(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Iterable[date | str],
    res: DailyFeaturesResult | None = None,
) -> DailyFeaturesResult:
    """The compute-and-write half of `build_daily_features`, from `broker_daily` as it stands
    (no lake listing): daily_features rows and lake files for `dates`."""
    t0 = time.perf_counter()
    ds = sorted({as_date(d) for d in dates})
    res = res or DailyFeaturesResult(ds)
    if not ds:
        return res
    ensure_schema(con)
    feats_all = compute_features(load_history(con, ds))
    wanted = pd.to_datetime(pd.Series(ds))
    feats = feats_all[pd.to_datetime(feats_all["date"]).isin(wanted)].reset_index(drop=True)
    feats["date"] = pd.to_datetime(feats["date"]).dt.date
    res.rows = write_features_table(con, feats, ds)
    tickers = sorted(feats["ticker"].unique().tolist())
    res.lake_files_written = write_lake_files(lake, con, ds, tickers)
    res.tickers = len(tickers)
    res.insufficient_history = int(feats["insufficient_history"].sum())
    res.states = {s: int((feats["state"] == s).sum()) for s in STATES}
    for d, day in feats.groupby("date"):
        res.per_date[as_date(str(d))] = {
            "rows": len(day),
            "tickers": int(day["ticker"].nunique()),
            "insufficient_history": int(day["insufficient_history"].sum()),
            "states": {s: int((day["state"] == s).sum()) for s in STATES},
        }
    res.seconds = time.perf_counter() - t0
    return res
