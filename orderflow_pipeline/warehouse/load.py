"""Consolidate a trading date's footprint objects into DuckDB `footprint_1m`/`footprint_levels` (SPEC §7).

Why it is built this way: the original fed its consolidated table through queues that hit
request limits and left it sparse. Here one function owns the table and keeps it exact:

* Incremental by manifest: `ingest_manifest(key, size, etag_or_mtime)` records what each lake
  object looked like when loaded; a re-run lists the date once, reads only new or changed
  objects, and an unchanged date reads nothing and writes nothing.
* Every row carries its `source_key`; a changed object replaces exactly its own rows and a
  vanished object takes its rows with it. Delete + insert + manifest happen in one transaction,
  so a killed run leaves the table as it was.
* Bytes are fetched concurrently (`Lake.cat_many`, local or S3), validated in bulk by
  `candles.validate_objects` (the same validator the footprint layer uses) and inserted from
  Arrow in one statement per table — never row by row.
* `(ticker, time_key)` is unique by construction: a footprint key names one ticker and one UTC
  hour, the validator keeps only minutes inside that hour and one line per minute, and an
  object's old rows are deleted before its new rows go in. `checks` verifies it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb
import pyarrow as pa

from orderflow_pipeline.layers.footprint.candles import ValidatedCandles, validate_objects
from orderflow_pipeline.layers.footprint.handover import Handed, merge, tables
from orderflow_pipeline.storage import keys as K
from orderflow_pipeline.storage.inventory import footprint_objects, listing_digest
from orderflow_pipeline.storage.lake import Lake, ObjectInfo
from orderflow_pipeline.storage.quarantine import QuarantineBatch
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.queries import CANDLE_COLS, LEVEL_COLS, tickers_for

ASSET = "footprint_1m"
LAYER = "warehouse"
# Where this layer's rejects go: every line it can reject is a footprint hour-file line, which the
# footprint layer also validates (upstream-landed files) with the same validator. Both write the
# same object, quarantine/{date}/footprint/{hour-file key}.jsonl, with the same content, so a bad
# line sits in one quarantine folder and is counted once, whichever layer read it first (issue 19).
QUARANTINE_LAYER = "footprint"
DEFAULT_BATCH_OBJECTS = 10_000  # a full-market day (~6,300 objects) is one transaction

_MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("size", pa.int64()),
        ("etag_or_mtime", pa.string()),
        ("date", pa.date32()),
        ("ticker", pa.string()),
        ("hour", pa.int32()),
        ("rows", pa.int32()),
        ("quarantined", pa.int32()),
        ("loaded_at", pa.timestamp("us")),
    ]
)


# The tables whose rows an object replaces: (table, the column naming the object).
_KEYED = (("footprint_1m", "source_key"), ("footprint_levels", "source_key"), ("ingest_manifest", "key"))


@dataclass
class ConsolidateResult:
    date: str
    objects_listed: int = 0
    objects_read: int = 0
    objects_handed: int = 0  # rows taken from the same run's footprint build, not read back
    objects_skipped: int = 0  # unchanged since the manifest
    objects_removed: int = 0  # vanished from the lake; their rows were deleted
    rows: int = 0  # candles inserted by this run
    levels: int = 0
    tickers: int = 0  # distinct tickers of the date in the table after the run
    quarantined: int = 0  # lines rejected by this run
    superseded: int = 0  # duplicate-t0 lines replaced by a later line
    # inventory.listing_digest of the date's footprint objects this run brought the table in line
    # with (None for a ticker repair, which loads only some): the lake sensor's "already loaded"
    listing_digest: str | None = None
    seconds: float = 0.0
    quarantine_keys: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("quarantine_keys")
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass
class LoadResult:
    rows: int
    levels: int
    validated: ValidatedCandles


# -------------------------------------------------------------------------------------- loading
# A date's ingest manifest as read back: key -> (size, fingerprint, rows, quarantined).
Manifest = dict[str, tuple[int, str, int, int]]


def manifest_for(con: duckdb.DuckDBPyConnection, d: date | str) -> Manifest:
    """key -> (size, fingerprint, rows, quarantined) of the objects loaded for date `d`."""
    rows = con.execute(
        "SELECT key, size, etag_or_mtime, rows, quarantined FROM ingest_manifest WHERE date = ?",
        [K.as_date(d)],
    ).fetchall()
    return {k: (int(s or 0), str(f or ""), int(r or 0), int(q or 0)) for k, s, f, r, q in rows}


def _key_meta(key: str) -> tuple[str, date, int] | None:
    """(ticker, WIB date, UTC hour) of a footprint key; None for any other key."""
    try:
        t, hour = K.parse_footprint_key(key)
    except ValueError:
        return None
    return t, K.trade_date_of_hour(hour), hour.hour


def _manifest_table(
    validated: ValidatedCandles,
    infos: Mapping[str, ObjectInfo],
    sizes: Mapping[str, int],
    meta: Mapping[str, tuple[str, date, int] | None],
    now: datetime,
) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in _MANIFEST_SCHEMA.names}
    for key in sizes:
        m = meta.get(key)
        if m is None:
            continue
        info = infos.get(key)
        cols["key"].append(key)
        cols["size"].append(info.size if info else sizes[key])
        cols["etag_or_mtime"].append(info.fingerprint if info else "")
        cols["date"].append(m[1])
        cols["ticker"].append(m[0])
        cols["hour"].append(m[2])
        cols["rows"].append(validated.rows_by_source.get(key, 0))
        cols["quarantined"].append(validated.rejects_by_source.get(key, 0))
        cols["loaded_at"].append(now)
    return pa.table(cols, schema=_MANIFEST_SCHEMA)


def load_objects(
    con: duckdb.DuckDBPyConnection,
    objects: Mapping[str, bytes],
    infos: Mapping[str, ObjectInfo] | None = None,
    *,
    removed: Iterable[str] = (),
) -> LoadResult:
    """Replace the rows of `objects` (and drop those of `removed`) in one transaction.

    Also the self-heal path of the summary (SPEC §11): objects read from the lake go in here.
    Without `infos` the manifest records an empty fingerprint, so the next `consolidate`
    re-reads those objects once and records their real one.
    """
    sizes = {k: len(v) for k, v in objects.items()}
    return load_validated(con, validate_objects(objects), sizes, infos, removed=removed)


def load_validated(
    con: duckdb.DuckDBPyConnection,
    validated: ValidatedCandles,
    sizes: Mapping[str, int],
    infos: Mapping[str, ObjectInfo] | None = None,
    *,
    removed: Iterable[str] = (),
) -> LoadResult:
    """`load_objects` after validation: the objects' keys (with their byte sizes) and what the
    validator made of them. Validation is pure compute (a backfill runs it in worker processes,
    `consolidate_dates`); this is the single writer's part."""
    # Keyed by date and object: runs writing other dates never touch these rows.
    return duck.committed(con, lambda: replace_rows(con, validated, sizes, infos, removed=removed))


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    validated: ValidatedCandles,
    sizes: Mapping[str, int],
    infos: Mapping[str, ObjectInfo] | None = None,
    *,
    removed: Iterable[str] = (),
) -> LoadResult:
    """The statements of `load_validated`, inside the caller's transaction (a backfill writes
    several dates in one, `backfill.consolidate_dates`): delete the objects' old rows and manifest
    entries, insert the new ones."""
    gone = sorted(set(removed) - set(sizes))
    touched_keys = list(sizes) + gone
    touched = pa.table({"key": pa.array(touched_keys, pa.string())})
    meta = {k: _key_meta(k) for k in touched_keys}
    dates = sorted({m[1] for m in meta.values() if m is not None})
    manifest = _manifest_table(
        validated, infos or {}, sizes, meta, datetime.now(timezone.utc).replace(tzinfo=None)
    )
    candles, levels = validated.candles, validated.levels
    con.register("_wh_touched", touched)
    con.register("_wh_candles", candles)
    con.register("_wh_levels", levels)
    con.register("_wh_manifest", manifest)
    try:
        if dates:
            # by date too: the date's zone maps skip every other date's row groups. A manifest
            # entry's date is its key's (`_key_meta`, here, the only writer of the manifest), so
            # this deletes the same entries as by key alone without scanning the whole manifest
            # (~1,900 entries a session: a year's scan grew with every date loaded).
            # A table holding no row of the dates (a backfill's new dates) is not asked to delete:
            # the count reads zone maps only (< 1 ms), the DELETE cost 10-30 ms with nothing to
            # delete, three times per date.
            date_list = ", ".join("?" for _ in dates)
            counts = con.execute(
                "SELECT "
                + ", ".join(f"(SELECT count(*) FROM {t} WHERE date IN ({date_list}))" for t, _ in _KEYED),
                dates * len(_KEYED),
            ).fetchone()
            for (table, col), n in zip(_KEYED, counts or (1,) * len(_KEYED), strict=True):
                if n:
                    con.execute(
                        f"DELETE FROM {table} WHERE date IN ({date_list}) "
                        f"AND {col} IN (SELECT key FROM _wh_touched)",
                        dates,
                    )
        con.execute(f"INSERT INTO footprint_1m ({CANDLE_COLS}) SELECT {CANDLE_COLS} FROM _wh_candles")
        con.execute(f"INSERT INTO footprint_levels ({LEVEL_COLS}) SELECT {LEVEL_COLS} FROM _wh_levels")
        con.execute("INSERT INTO ingest_manifest SELECT * FROM _wh_manifest")
    finally:
        for name in ("_wh_touched", "_wh_candles", "_wh_levels", "_wh_manifest"):
            con.unregister(name)
    return LoadResult(candles.num_rows, levels.num_rows, validated)


@dataclass
class _ReadBatch:
    sizes: dict[str, int]  # objects read (key -> bytes), in the order asked
    validated: ValidatedCandles
    drop: list[str]  # keys whose rows go: removed from the lake (first batch) or vanished


@dataclass
class PreparedDate:
    """Everything `consolidate` computes for a date before it writes: listing, manifest diff,
    objects read and validated. Pure with respect to the warehouse (it gets the date's manifest
    rows), so a backfill prepares the next dates in worker processes while this process writes."""

    res: ConsolidateResult
    listed: dict[str, ObjectInfo]
    known: Manifest
    batches: list[_ReadBatch]
    handed: list[str] = field(default_factory=list)  # objects to load from the run's hand-over


_Job = tuple[Lake, date, Manifest, bool, int, list[str] | None, Mapping[str, ObjectInfo]]


def prepare_date(job: _Job) -> PreparedDate:
    """(lake, date, the date's manifest rows, force, batch_objects, tickers, handed files) ->
    PreparedDate. A handed file (`handover.Handed.files`) whose listing shows exactly what the
    footprint build wrote is not read: its rows come from the hand-over."""
    lake, d, known, force, batch_objects, tickers, handed = job
    res = ConsolidateResult(date=d.isoformat())
    listed = footprint_objects(lake, d)
    res.listing_digest = listing_digest(listed.values()) if tickers is None else None
    if tickers is not None:
        only = {K.check_ticker(t) for t in tickers}
        listed = {k: v for k, v in listed.items() if K.parse_footprint_key(k)[0] in only}
        known = {k: v for k, v in known.items() if (m := _key_meta(k)) is not None and m[0] in only}
        force = True
    res.objects_listed = len(listed)
    todo = [
        k
        for k, info in listed.items()
        if force or k not in known or known[k][:2] != (info.size, info.fingerprint)
    ]
    removed = sorted(set(known) - set(listed))
    res.objects_skipped = len(listed) - len(todo)
    taken = [k for k in todo if handed.get(k) == listed[k]]
    if taken:
        todo = [k for k in todo if handed.get(k) != listed[k]]
    batches: list[_ReadBatch] = []
    for start in range(0, max(len(todo), 1 if removed else 0), max(batch_objects, 1)):
        batch = todo[start : start + batch_objects]
        objects = lake.cat_many(batch)
        vanished = [k for k in batch if k not in objects]
        drop = (removed if start == 0 else []) + vanished
        sizes = {k: len(v) for k, v in objects.items()}
        batches.append(_ReadBatch(sizes, validate_objects(objects), drop))
        del objects
    return PreparedDate(res, listed, known, batches, taken)


@dataclass
class Written:
    """What `write_prepared` did to the warehouse, for `finish_prepared` to finish in the lake."""

    quarantine: QuarantineBatch
    cleared: list[str]  # reloaded keys whose old quarantine object is now stale


def write_prepared(
    con: duckdb.DuckDBPyConnection,
    p: PreparedDate,
    *,
    retention_days: int | None = None,
    handed: Handed | None = None,
    own_transactions: bool = True,
) -> Written:
    """The warehouse writes of a prepared date: its batches (the handed objects' rows go in with
    the first) and the retention prune. `own_transactions`: one transaction per batch (and one for
    the prune); False runs them in the caller's transaction (a backfill's group of dates)."""
    res, known, d = p.res, p.known, K.as_date(p.res.date)
    out = Written(QuarantineBatch(QUARANTINE_LAYER), [])
    batches = p.batches
    if p.handed:
        assert handed is not None, "prepared with a hand-over, applied without it"
        first = batches[0] if batches else _ReadBatch({}, validate_objects({}), [])
        sizes = {**first.sizes, **{k: p.listed[k].size for k in p.handed}}
        batches = [
            _ReadBatch(sizes, merge(first.validated, tables(handed, p.handed)), first.drop),
            *batches[1:],
        ]
        res.objects_handed = len(p.handed)
    write = load_validated if own_transactions else replace_rows
    for b in batches:
        loaded = write(con, b.validated, b.sizes, p.listed, removed=b.drop)
        res.objects_read += len(b.sizes)
        res.objects_removed += len(b.drop)
        res.rows += loaded.rows
        res.levels += loaded.levels
        res.superseded += loaded.validated.superseded
        out.quarantine.items.extend(loaded.validated.rejects)
        out.cleared += [
            k
            for k in list(b.sizes) + b.drop
            if k in known and known[k][3] and not loaded.validated.rejects_by_source.get(k)
        ]
    res.objects_read -= res.objects_handed  # counted in the first batch's sizes, but not read
    if retention_days is not None:
        keep_from = d - timedelta(days=retention_days)
        if own_transactions:
            prune(con, keep_from)
        else:
            prune_rows(con, keep_from)
    return out


def finish_prepared(
    lake: Lake, con: duckdb.DuckDBPyConnection, p: PreparedDate, written: Written, started: float
) -> ConsolidateResult:
    """After the date's rows are committed: write/clear its quarantine, count its tickers."""
    res, d = p.res, K.as_date(p.res.date)
    quarantine = written.quarantine
    res.quarantined = len(quarantine)
    if quarantine.items:
        res.quarantine_keys = quarantine.write(lake, d)
    for key in written.cleared:
        lake.delete(K.quarantine_key(d, QUARANTINE_LAYER, key))
    res.tickers = tickers_for(con, d)
    res.seconds = time.perf_counter() - started
    return res


def apply_prepared(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    p: PreparedDate,
    *,
    retention_days: int | None = None,
    started: float | None = None,
    handed: Handed | None = None,
) -> ConsolidateResult:
    """The writing half of `consolidate`: load the prepared batches (one transaction each; the
    handed objects' rows go in with the first), prune, then write/clear quarantine and count the
    date's tickers."""
    started = time.perf_counter() if started is None else started
    written = write_prepared(con, p, retention_days=retention_days, handed=handed)
    return finish_prepared(lake, con, p, written, started)


def consolidate(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    d: date | str,
    *,
    force: bool = False,
    batch_objects: int = DEFAULT_BATCH_OBJECTS,
    retention_days: int | None = None,
    tickers: Iterable[str] | None = None,
) -> ConsolidateResult:
    """Bring the warehouse rows of WIB date `d` in line with the lake's footprint objects.

    `tickers` (the operator's repair, `orderflow materialize --tickers`) reloads only those
    tickers' objects, whatever the manifest says, and leaves every other row and manifest entry
    as it is."""
    started = time.perf_counter()
    d = K.as_date(d)
    only = list(tickers) if tickers is not None else None
    p = prepare_date((lake, d, manifest_for(con, d), force, batch_objects, only, {}))
    return apply_prepared(lake, con, p, retention_days=retention_days, started=started)


def prune(con: duckdb.DuckDBPyConnection, keep_from: date) -> int:
    """Delete every row older than `keep_from` (retention is a setting; default keep everything)."""
    return duck.committed(con, lambda: prune_rows(con, keep_from))


def prune_rows(con: duckdb.DuckDBPyConnection, keep_from: date) -> int:
    """`prune`'s statements, inside the caller's transaction; the candles deleted."""
    row = con.execute("SELECT count(*) FROM footprint_1m WHERE date < ?", [keep_from]).fetchone()
    for table in ("footprint_1m", "footprint_levels", "ingest_manifest"):
        con.execute(f"DELETE FROM {table} WHERE date < ?", [keep_from])
    return int(row[0]) if row else 0
