"""The one validator for footprint candle NDJSON (SPEC §6), shared by the footprint and warehouse layers.

Why it is shaped like this: a full-market day is ~6,300 hour objects, ~140k candles and ~800k
price levels, so parsing line by line in Python costs seconds. The fast path concatenates every
well-formed object and parses it with Arrow's multi-threaded JSON reader in one call, then
applies every rule of §6 as vectorised numpy expressions. Only objects that the bulk parse
cannot take (bad JSON, truncated lines, wrong types) are located by bisection (candle_parse.py)
and then examined line by line, so one malformed line costs a few small re-parses, not a slow
path for the day.

Rules (a failing line is rejected with its reason; the rest of the object still loads):
bad JSON / truncated line / wrong types (prices and lots must be JSON integers) / missing
fields / `l <= min(o,c) <= max(o,c) <= h` / prices > 0 / volumes >= 0 / `t0` on a minute
boundary inside the object's UTC hour / `sum(bv+av) <= vol` / `delta == sum(bv) - sum(av)`.
Levels may come in any order. Duplicate `t0` lines in one object: the later valid line wins.
Price and lot limits come from bounds.py, derived from the tape's per-trade bounds so that a
candle the footprint layer built from accepted trades is never rejected here (issue 16).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orderflow_pipeline import bounds
from orderflow_pipeline.layers.footprint.candle_parse import (
    Unit,
    is_clean,
    json_problem,
    parse_failure,
    parse_units,
    shape,
)
from orderflow_pipeline.storage.keys import WIB, parse_footprint_key
from orderflow_pipeline.storage.quarantine import Rejected, describe

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_WIB_OFFSET = WIB.utcoffset(None)
assert _WIB_OFFSET is not None
WIB_OFFSET_MS = int(_WIB_OFFSET.total_seconds() * 1000)  # derived from keys.WIB, the one WIB constant
# Bounds come from bounds.py, derived so that no candle built from accepted trades is rejected here.
PRICE_MAX = bounds.PRICE_MAX
LOTS_MAX = bounds.CANDLE_LOTS_MAX

# ticker and source_key are dictionary-encoded: one entry per object instead of a string per row
# (~800k level rows a day); DuckDB inserts them into its VARCHAR columns directly.
_DICT = pa.dictionary(pa.int32(), pa.string())
CANDLE_SCHEMA = pa.schema(
    [
        ("ticker", _DICT),
        ("date", pa.date32()),
        ("time_key", pa.int64()),
        ("open", pa.int32()),
        ("high", pa.int32()),
        ("low", pa.int32()),
        ("close", pa.int32()),
        ("vol", pa.int64()),
        ("delta", pa.int64()),
        ("buy_vol", pa.int64()),
        ("sell_vol", pa.int64()),
        ("source_key", _DICT),
    ]
)
LEVEL_SCHEMA = pa.schema(
    [
        ("ticker", _DICT),
        ("date", pa.date32()),
        ("time_key", pa.int64()),
        ("price", pa.int32()),
        ("bv", pa.int64()),
        ("av", pa.int64()),
        ("source_key", _DICT),
    ]
)


@dataclass
class ValidatedCandles:
    candles: pa.Table  # CANDLE_SCHEMA, ordered by (source key order given, time_key)
    levels: pa.Table  # LEVEL_SCHEMA, grouped by candle in the same order
    rejects: list[Rejected] = field(default_factory=list)
    rows_by_source: dict[str, int] = field(default_factory=dict)  # accepted candles per object
    rejects_by_source: dict[str, int] = field(default_factory=dict)
    superseded: int = 0  # earlier duplicate-t0 lines replaced by a later line of the same object
    lines: int = 0  # non-blank lines seen

    @property
    def quarantined(self) -> int:
        return len(self.rejects)


# ------------------------------------------------------------------------------------ validation
def _ints(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values with nulls as 0, null mask)."""
    nulls = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(len(arr), bool)
    values = (
        (arr.fill_null(0) if arr.null_count else arr)
        .to_numpy(zero_copy_only=False)
        .astype(np.int64, copy=False)
    )
    return values, nulls


def _seg_sum(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Exact int64 sums of values[starts[i]:ends[i]] for contiguous, ordered segments."""
    cs = np.zeros(len(values) + 1, np.int64)
    np.cumsum(values, out=cs[1:])
    out: np.ndarray = cs[ends] - cs[starts]
    return out


def validate_objects(objects: Mapping[str, bytes]) -> ValidatedCandles:
    """Validate footprint hour objects (lake key -> NDJSON bytes) into warehouse-shaped Arrow tables.

    Total per object: every line-level problem is a reject with its reason; should anything still
    raise (an object of the wrong type, a case no rule foresaw), each object is tried alone, the
    ones that raise are rejected whole (line 0) with the exception's reason, and the rest are
    validated without them — one object never costs its neighbours, and the run goes on.
    """
    try:
        return _validate_objects(objects)
    except Exception:  # noqa: BLE001 - narrowed to the object(s) below
        pass
    broken: list[Rejected] = []
    for key, data in objects.items():
        try:
            _validate_objects({key: data})
        except Exception as exc:  # noqa: BLE001
            broken.append(Rejected(key, 0, f"unreadable object: {describe(exc)}", ""))
    bad = {r.source for r in broken}
    result = _validate_objects({k: v for k, v in objects.items() if k not in bad})
    result.rejects = sorted([*result.rejects, *broken], key=lambda r: (r.source, r.line_no))
    for r in broken:
        result.rejects_by_source[r.source] = result.rejects_by_source.get(r.source, 0) + 1
    return result


def _validate_objects(objects: Mapping[str, bytes]) -> ValidatedCandles:
    keys = list(objects)
    rejects: list[Rejected] = []
    hour_ms = np.zeros(len(keys), np.int64)
    tickers: list[str] = []
    fast: list[Unit] = []
    slow: list[int] = []
    lines_seen = 0
    for i, key in enumerate(keys):
        data = objects[key]
        try:
            ticker, hour = parse_footprint_key(key)
        except ValueError as exc:
            tickers.append("")
            rejects.append(Rejected(key, 0, str(exc), ""))
            continue
        tickers.append(ticker)
        hour_ms[i] = int(hour.timestamp()) * 1000
        if not data:
            continue
        shaped, n_lines = shape(data)
        if shaped:
            lines_seen += n_lines
            body = data if data.endswith(b"\n") else data + b"\n"
            fast.append(Unit(i, body, np.arange(1, n_lines + 1, dtype=np.int32)))
        else:
            slow.append(i)
    # Every newline of the concatenation (object boundaries included) sits between `}` and `{`
    # exactly when every object is clean: one count over the day instead of one per object.
    joined = b"".join(u.data for u in fast)
    if joined.count(b"}\n{") != lines_seen - 1:
        dirty = [u for u in fast if not is_clean(u.data)]
        slow.extend(u.obj for u in dirty)
        lines_seen -= sum(len(u.line_nos) for u in dirty)
        fast = [u for u in fast if is_clean(u.data)]
        joined = b"".join(u.data for u in fast)

    good, bad = parse_units(fast, joined)
    slow.extend(u.obj for u in bad)
    lines_seen -= sum(len(u.line_nos) for u in bad)

    # Objects Arrow could not take whole: classify line by line, re-parse the lines that look right.
    line_units: list[Unit] = []
    for i in sorted(slow):
        for no, raw in enumerate(objects[keys[i]].split(b"\n"), start=1):
            stripped = raw.strip()
            if not stripped:
                continue
            lines_seen += 1
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append(Rejected(keys[i], no, "bad JSON: not UTF-8", raw.decode("utf-8", "replace")))
                continue
            why = json_problem(text)
            if why is not None:
                rejects.append(Rejected(keys[i], no, why, text))
                continue
            line_units.append(Unit(i, stripped + b"\n", np.array([no], np.int32)))
    good_lines, bad_lines = parse_units(line_units)
    for u in bad_lines:
        text = u.data.decode("utf-8", "replace").rstrip("\n")
        rejects.append(Rejected(keys[u.obj], int(u.line_nos[0]), parse_failure(u.data), text))
    good += good_lines

    result = _validate_rows(good, keys, tickers, hour_ms, objects, rejects)
    result.lines = lines_seen
    rejects.sort(key=lambda r: (r.source, r.line_no))
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r.source] = counts.get(r.source, 0) + 1
    result.rejects_by_source = counts
    return result


def _validate_rows(
    parsed: list[tuple[pa.Table, list[Unit]]],
    keys: list[str],
    tickers: list[str],
    hour_ms: np.ndarray,
    objects: Mapping[str, bytes],
    rejects: list[Rejected],
) -> ValidatedCandles:
    if not parsed:
        return ValidatedCandles(CANDLE_SCHEMA.empty_table(), LEVEL_SCHEMA.empty_table(), rejects)
    raw = pa.concat_tables([t for t, _ in parsed])
    units = [u for _, us in parsed for u in us]
    counts = np.fromiter((len(u.line_nos) for u in units), np.int64, len(units))
    obj = np.repeat(np.fromiter((u.obj for u in units), np.int64, len(units)), counts)
    line_no = np.concatenate([u.line_nos for u in units])
    n = raw.num_rows

    t0, t0_null = _ints(raw.column("t0").combine_chunks())
    ohlc = raw.column("ohlc").combine_chunks()
    o, o_null = _ints(pc.struct_field(ohlc, "o"))
    h, h_null = _ints(pc.struct_field(ohlc, "h"))
    lo, l_null = _ints(pc.struct_field(ohlc, "l"))
    c, c_null = _ints(pc.struct_field(ohlc, "c"))
    vol, vol_null = _ints(raw.column("vol").combine_chunks())
    delta, delta_null = _ints(raw.column("delta").combine_chunks())
    levels = raw.column("levels").combine_chunks()
    lv_null = levels.is_null().to_numpy(zero_copy_only=False) if levels.null_count else np.zeros(n, bool)
    lengths = pc.list_value_length(levels).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    flat = levels.flatten()  # level structs of non-null lists, in row order
    p, p_null = _ints(pc.struct_field(flat, "p"))
    bv, bv_null = _ints(pc.struct_field(flat, "bv"))
    av, av_null = _ints(pc.struct_field(flat, "av"))
    flat_null = (
        flat.is_null().to_numpy(zero_copy_only=False) if flat.null_count else np.zeros(len(flat), bool)
    )

    lvl_bad = flat_null | p_null | bv_null | av_null | (p <= 0) | (p > PRICE_MAX)
    lvl_bad |= (bv < 0) | (av < 0) | (bv > LOTS_MAX) | (av > LOTS_MAX)
    bad_levels = _seg_sum(lvl_bad.astype(np.int64), starts, ends)
    zero = np.zeros(len(p), np.int64)
    sum_bv = _seg_sum(np.where(lvl_bad, zero, bv), starts, ends)
    sum_av = _seg_sum(np.where(lvl_bad, zero, av), starts, ends)
    # The exact int64 sums wrap silently when a hostile file's levels add up past 2^63; a float sum
    # beside them (error far below the margin) flags that: a valid candle's levels sum to <= vol
    # <= LOTS_MAX, so anything beyond 2 * LOTS_MAX (< 2^62) is "levels exceed vol" whatever wrapped.
    lots_f = np.where(lvl_bad, 0.0, bv.astype(np.float64) + av.astype(np.float64))
    cs_f = np.zeros(len(lots_f) + 1, np.float64)
    np.cumsum(lots_f, out=cs_f[1:])
    overflow = (cs_f[ends] - cs_f[starts]) > 2.0 * LOTS_MAX

    hs = hour_ms[obj]
    prices = np.stack([o, h, lo, c])
    rules: list[tuple[np.ndarray, str]] = [
        (t0_null | o_null | h_null | l_null | c_null | vol_null | delta_null | lv_null, "missing field"),
        (np.asarray((prices <= 0).any(axis=0) | (prices > PRICE_MAX).any(axis=0)), "bad price"),
        ((vol < 0) | (vol > LOTS_MAX), "bad volume"),
        ((t0 % MINUTE_MS != 0) | (t0 < hs) | (t0 >= hs + HOUR_MS), "bad t0"),
        (
            (lo > np.minimum(o, c)) | (np.minimum(o, c) > np.maximum(o, c)) | (np.maximum(o, c) > h),
            "broken OHLC",
        ),
        (bad_levels > 0, "bad level"),
        (overflow | (sum_bv + sum_av > vol), "levels exceed vol"),
        (delta != sum_bv - sum_av, "delta mismatch"),
    ]
    bad = np.zeros(n, bool)
    reason_idx = np.full(n, -1, np.int64)
    for k, (mask, _) in enumerate(rules):
        new = mask & ~bad
        reason_idx[new] = k
        bad |= mask
    if bad.any():
        split_cache: dict[int, list[bytes]] = {}
        for r in np.flatnonzero(bad):
            oi = int(obj[r])
            lines = split_cache.setdefault(oi, objects[keys[oi]].split(b"\n"))
            ln = int(line_no[r])
            text = lines[ln - 1].decode("utf-8", "replace").strip() if ln <= len(lines) else ""
            name = rules[int(reason_idx[r])][1]
            detail = _detail(name, int(r), t0, o, h, lo, c, vol, delta, sum_bv, sum_av, hs, bad_levels)
            rejects.append(Rejected(keys[oi], ln, f"{name}: {detail}", text))

    # Keep valid rows; duplicate t0 in one object -> the later line wins. Order (object, t0).
    d_obj, d_t0 = np.diff(obj), np.diff(t0)
    if not bad.any() and bool(np.all((d_obj > 0) | ((d_obj == 0) & (d_t0 > 0)))):
        order = np.arange(n)  # the usual case: clean files in time order; no gather needed
        identity = True
    else:
        keep = np.flatnonzero(~bad)
        order = keep[np.lexsort((line_no[keep], t0[keep], obj[keep]))]
        identity = False
    if len(order) > 1 and not identity:
        same = (obj[order][1:] == obj[order][:-1]) & (t0[order][1:] == t0[order][:-1])
        superseded = int(same.sum())
        if superseded:
            order = order[np.append(~same, True)]
    else:
        superseded = 0

    key_dict = pa.array(keys, pa.string())
    tick_dict = pa.array(tickers, pa.string())
    obj_k = obj[order]
    t0_k = t0[order]
    date_k = wib_days(t0_k)
    candles = pa.table(
        [
            _dict(tick_dict, obj_k),
            pa.array(date_k, pa.int32()).view(pa.date32()),
            pa.array(t0_k, pa.int64()),
            pa.array(o[order].astype(np.int32)),
            pa.array(h[order].astype(np.int32)),
            pa.array(lo[order].astype(np.int32)),
            pa.array(c[order].astype(np.int32)),
            pa.array(vol[order]),
            pa.array(delta[order]),
            pa.array(sum_bv[order]),
            pa.array(sum_av[order]),
            _dict(key_dict, obj_k),
        ],
        schema=CANDLE_SCHEMA,
    )

    # Levels of the kept candles, grouped in the candles' order.
    lens_k = lengths[order]
    parent_k = np.repeat(np.arange(len(order)), lens_k)
    lv_obj = obj_k[parent_k]
    if identity:
        p_k, bv_k, av_k = p, bv, av
    else:
        lvl_idx = _ranges(starts[order], lens_k)
        p_k, bv_k, av_k = p[lvl_idx], bv[lvl_idx], av[lvl_idx]
    levels_tbl = pa.table(
        [
            _dict(tick_dict, lv_obj),
            pa.array(date_k[parent_k], pa.int32()).view(pa.date32()),
            pa.array(t0_k[parent_k], pa.int64()),
            pa.array(p_k.astype(np.int32)),
            pa.array(bv_k),
            pa.array(av_k),
            _dict(key_dict, lv_obj),
        ],
        schema=LEVEL_SCHEMA,
    )
    per_obj = np.bincount(obj_k, minlength=len(keys))
    rows_by_source = {keys[i]: int(per_obj[i]) for i in np.flatnonzero(per_obj)}
    return ValidatedCandles(candles, levels_tbl, rejects, rows_by_source, superseded=superseded)


def wib_days(t0: np.ndarray) -> np.ndarray:
    """The WIB date (days since 1970-01-01, int32) of each candle start `t0` (epoch ms): the
    warehouse's `date` column, whoever builds the rows (this validator, `handover`)."""
    out: np.ndarray = ((t0 + WIB_OFFSET_MS) // DAY_MS).astype(np.int32)
    return out


def _dict(values: pa.Array, idx: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32, copy=False)), values)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s+l) for each (s, l), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts - (ends - lengths), lengths)
    out: np.ndarray = np.arange(total, dtype=np.int64) + offsets
    return out


def _detail(
    name: str,
    r: int,
    t0: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    vol: np.ndarray,
    delta: np.ndarray,
    sbv: np.ndarray,
    sav: np.ndarray,
    hs: np.ndarray,
    bad_levels: np.ndarray,
) -> str:
    if name == "missing field":
        return "t0, ohlc.o/h/l/c, vol, delta and levels are required"
    if name in ("bad price", "broken OHLC"):
        return f"o={o[r]} h={h[r]} l={lo[r]} c={c[r]}"
    if name == "bad volume":
        return f"vol={vol[r]}"
    if name == "bad t0":
        return f"t0={t0[r]} not a minute inside hour starting {hs[r]}"
    if name == "bad level":
        return f"{bad_levels[r]} level(s) with price <= 0, negative lots or nulls"
    if name == "levels exceed vol":
        return f"sum(bv+av)={int(sbv[r]) + int(sav[r])} > vol={vol[r]}"  # Python ints: no wrap warning
    return f"delta={delta[r]} != sum(bv)-sum(av)={int(sbv[r]) - int(sav[r])}"
