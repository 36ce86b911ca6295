"""What a footprint build hands to the warehouse load of the same run (issue 28).

Why: in one `orderflow materialize` the warehouse loads `footprint_1m` from the hour files the
footprint layer has just written, and reading them back meant listing, reading, parsing and
validating every byte this very process had serialised a moment before — the costliest part of
the warehouse layer. Instead the build keeps the rows of its own candle relation (the values its
lines were serialised from, `build.CANDLES_TABLE`), in the warehouse's shape, and the warehouse
takes them for every file whose listing still shows exactly what the build wrote: the size and
fingerprint (local mtime, S3 ETag) the write itself returned. Anything else is read and validated
as before: upstream-landed files, files merged with upstream minutes, files changed by anyone
after our write, and every file of a run in another process (separate Dagster runs, a
multi-process executor), which sees no hand-over at all.

Why spooled to a run folder, not held in memory: a backfill's footprint step builds every date
before the warehouse step starts, so a year of candle rows would sit in memory at once (GBs,
beyond the 1.5 GB budget). One Arrow IPC file per date and table is memory-mapped back, no parse;
the folder goes with the run's `Handover` (and each date's files once loaded).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orderflow_pipeline.layers.footprint.candles import (
    CANDLE_SCHEMA,
    LEVEL_SCHEMA,
    ValidatedCandles,
    wib_days,
)
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import ObjectInfo

_KEYS = "fp_hand_keys"
# The candle relation's columns in the warehouse's names (delta as the lines compute it), with the
# line's `levels` list as it is (levels without lots are not in it). Unordered: a sort would cost
# as much as the rest of the export, and the warehouse's rows are a set per object.
_ROWS_SQL = """
SELECT k.key AS source_key, c.ticker, c.t0 AS time_key, c.o AS open, c.h AS high, c.l AS low,
       c.c AS close, c.vol, (c.bv - c.av)::BIGINT AS delta, c.bv AS buy_vol, c.av AS sell_vol, c.levels
FROM {candles} c JOIN fp_hand_keys k USING (ticker, hour_ms)
"""


@dataclass(frozen=True)
class Handed:
    """One date's hand-over: its spooled tables and the files they stand for, as written."""

    date: str
    candles: str  # Arrow IPC file, CANDLE_SCHEMA
    levels: str  # Arrow IPC file, LEVEL_SCHEMA: each candle's levels together, by price
    files: dict[str, ObjectInfo] = field(default_factory=dict)  # key -> listing info after our write


def spool(
    con: duckdb.DuckDBPyConnection, candles: str, folder: str, d: date, built: Mapping[tuple[str, int], str]
) -> tuple[str, str]:
    """Write the rows of `built` (ticker, UTC hour ms) -> hour-file key, from candle relation
    `candles`, as the date's two Arrow IPC files in `folder`; returns their paths."""
    con.register(
        _KEYS,
        pa.table(
            {
                "ticker": pa.array([t for t, _ in built], pa.string()),
                "hour_ms": pa.array([h for _, h in built], pa.int64()),
                "key": pa.array(list(built.values()), pa.string()),
            }
        ),
    )
    try:
        rows = con.execute(_ROWS_SQL.replace("{candles}", candles)).fetch_arrow_table().combine_chunks()
    finally:
        con.unregister(_KEYS)
    candle_t, level_t = _shaped(rows)
    paths = [os.path.join(folder, f"{d.isoformat()}.{name}.arrow") for name in ("candles", "levels")]
    _write(paths[0], candle_t)
    _write(paths[1], level_t)
    return paths[0], paths[1]


def _shaped(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """DuckDB's rows as the validator's two tables: dictionary-encoded ticker and key (one chunk:
    an IPC file holds one dictionary per column), the WIB date, a level row per list entry."""
    cols: dict[str, Any] = {
        "date": pa.array(wib_days(rows.column("time_key").to_numpy()), pa.int32()).view(pa.date32()),
        "ticker": pc.dictionary_encode(rows.column("ticker").combine_chunks()),
        "source_key": pc.dictionary_encode(rows.column("source_key").combine_chunks()),
    }
    candle_t = pa.table(
        [cols[f.name] if f.name in cols else rows.column(f.name) for f in CANDLE_SCHEMA], schema=CANDLE_SCHEMA
    )
    levels = rows.column("levels").combine_chunks()
    parent = pc.list_parent_indices(levels)
    flat = levels.flatten()
    per_level = {"price": flat.field("p"), "bv": flat.field("bv"), "av": flat.field("av")}
    level_t = pa.table(
        [per_level[n] if n in per_level else pc.take(candle_t.column(n), parent) for n in LEVEL_SCHEMA.names],
        names=LEVEL_SCHEMA.names,
    ).cast(LEVEL_SCHEMA)
    return candle_t, level_t


def _write(path: str, table: pa.Table) -> None:
    tmp = f"{path}.tmp"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)


def _read(path: str) -> pa.Table:
    # not closed here: the table's buffers are the mapping (kept alive by them, unmapped with them)
    return pa.ipc.open_file(pa.memory_map(path)).read_all()


def tables(h: Handed, wanted: Collection[str]) -> ValidatedCandles:
    """The handed rows of the files `wanted` (all valid: the build's own values)."""
    candles, names, idx = _only(_read(h.candles), set(wanted))
    levels, _, _ = _only(_read(h.levels), set(wanted))
    per = np.bincount(idx, minlength=len(names))
    rows = {k: int(n) for k, n in zip(names, per, strict=True) if n}
    return ValidatedCandles(candles, levels, [], rows, {}, 0, candles.num_rows)


def _only(t: pa.Table, wanted: set[str]) -> tuple[pa.Table, list[str], np.ndarray]:
    """The rows of `t` whose source_key is wanted, with the column's dictionary and indices."""
    col = t.column("source_key").combine_chunks()
    names: list[str] = col.dictionary.to_pylist()
    idx = col.indices.to_numpy()
    if not set(names) <= wanted:
        keep = np.fromiter((n in wanted for n in names), bool, len(names))[idx]
        t, idx = t.filter(pa.array(keep)), idx[keep]
    return t, names, idx


def minutes(h: Handed) -> dict[str, tuple[ObjectInfo, list[int]]]:
    """Each handed file's listing info and candle starts (for the footprint completeness check)."""
    t = _read(h.candles)
    col = t.column("source_key").combine_chunks()
    idx = col.indices.to_numpy()
    order = np.argsort(idx, kind="stable")
    t0 = t.column("time_key").to_numpy()[order]
    cuts = np.flatnonzero(np.diff(idx[order])) + 1
    names = col.dictionary.to_pylist()
    out: dict[str, tuple[ObjectInfo, list[int]]] = {}
    for part in np.split(np.arange(len(order)), cuts) if len(order) else []:
        key = names[idx[order[part[0]]]]
        if key in h.files:
            out[key] = (h.files[key], t0[part].tolist())
    return out


def merge(a: ValidatedCandles, b: ValidatedCandles) -> ValidatedCandles:
    """Two disjoint sets of objects' rows as one (one transaction loads them)."""
    return ValidatedCandles(
        pa.concat_tables([a.candles, b.candles]),
        pa.concat_tables([a.levels, b.levels]),
        [*a.rejects, *b.rejects],
        {**a.rows_by_source, **b.rows_by_source},
        {**a.rejects_by_source, **b.rejects_by_source},
        a.superseded + b.superseded,
        a.lines + b.lines,
    )


class Handover:
    """The hand-overs of one run: a spool folder (removed with this object) and date -> Handed."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="orderflow-handover-")
        self._by_date: dict[str, Handed] = {}

    @property
    def folder(self) -> str:
        return self._dir.name

    def put(self, h: Handed | None) -> None:
        if h is not None:
            self._by_date[h.date] = h

    def get(self, d: date | str) -> Handed | None:
        return self._by_date.get(keys.as_date(d).isoformat())

    def drop(self, d: date | str) -> None:
        """Forget a loaded date and remove its files (the spool holds each date once)."""
        h = self._by_date.pop(keys.as_date(d).isoformat(), None)
        for path in (h.candles, h.levels) if h else ():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
