"""Footprint layer (SPEC §6): trade tape -> 1-minute candles with price levels, one NDJSON file
per ticker and UTC hour.

Why a manifest (`_state/footprint/{date}.json`): the intraday schedule runs every five minutes,
so a run reads only tape objects it has not seen; the (ticker, hour) files they touch are rebuilt
from ALL of that date's trades for those ticker-hours (the earlier objects that touched them are
re-read, per the manifest) — never merged minute-by-minute with a partial earlier build. The
manifest also records each file this layer wrote (content hash), which is how an upstream-landed
file (not ours) is told apart: it is kept, validated, and its minutes are replaced only where the
tape has the same minute. Per ticker-hour it keeps the tick-rule carry (last continuous price and
side) so rebuilding only later hours classifies exactly like a full rebuild. Its typed shape,
load and save live in `footprint_manifest`.

Bad input costs only itself: out-of-bounds or malformed tape lines are quarantined one by one
(tape.py, bounds.py), an unreadable object (e.g. a corrupt `*.jsonl.gz`) whole, once, on its first
read. The run also sweeps `.tmp-*` leftovers of killed writes (older than an hour) from the
folders its listings already read.

Everything heavy (parse, classify, aggregate, serialise) runs in DuckDB; Python only moves bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.layers.footprint import manifest, tape
from orderflow_pipeline.layers.footprint import minutes as footprint_minutes
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.footprint.manifest import Manifest, ObjectEntry
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import footprint_objects, tape_objects
from orderflow_pipeline.storage.lake import Blob, Lake, ObjectInfo
from orderflow_pipeline.storage.quarantine import QuarantineBatch, Rejected, count_quarantined

LAYER = "footprint"
ASSET = "footprint_ndjson"


@dataclass
class FootprintResult:
    date: str
    tape_objects: int = 0  # tape objects of the date in the lake
    tape_objects_read: int = 0
    tape_objects_skipped: int = 0  # unchanged since the last run: not read
    lines: int = 0
    trades: int = 0  # distinct regular-board trades in the rebuilt ticker-hours
    duplicates: int = 0
    non_regular: int = 0
    tickers: int = 0
    candles: int = 0  # candles in the files (re)built this run
    hour_files: int = 0  # hour files (re)built this run
    hour_files_written: int = 0
    hour_files_unchanged: int = 0
    hour_files_deleted: int = 0
    upstream_files_validated: int = 0
    stale_temps_removed: int = 0  # `.tmp-*` files older than an hour, left by a killed write
    neutral_lots: int = 0
    total_lots: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    write_seconds: float = 0.0  # of `seconds`: writing hour files (file creation dominates locally)

    def count_load(self, load: tape.TapeLoad) -> None:
        """The tape counters a build reports are the load's: copied in one place."""
        self.lines, self.trades = load.lines, load.trades
        self.duplicates, self.non_regular = load.duplicates, load.non_regular

    @property
    def neutral_share(self) -> float:
        """Auction / unclassified lots as a share of all lots (0 when nothing traded)."""
        return self.neutral_lots / self.total_lots if self.total_lots else 0.0

    def as_metadata(self) -> dict[str, Any]:
        out = asdict(self)
        out["neutral_share"] = round(self.neutral_share, 4)
        out["seconds"] = round(self.seconds, 3)
        out["write_seconds"] = round(self.write_seconds, 3)
        return out


# -- serialisation and validation ------------------------------------------------------------


def candle_line(c: Mapping[str, Any]) -> str:
    """One candle in the SPEC §6 layout (compact, fixed key order, integers)."""
    o = c["ohlc"]
    lv = ",".join(
        f'{{"p":{int(x["p"])},"bv":{int(x["bv"])},"av":{int(x["av"])}}}'
        for x in sorted(c["levels"], key=lambda x: x["p"])
        if int(x["bv"]) + int(x["av"]) > 0
    )
    return (
        f'{{"t0":{int(c["t0"])},"ohlc":{{"o":{int(o["o"])},"h":{int(o["h"])},"l":{int(o["l"])},"c":{int(o["c"])}}},'
        f'"vol":{int(c["vol"])},"delta":{int(c["delta"])},"levels":[{lv}]}}'
    )


def serialize_candles(candles: Iterable[Mapping[str, Any]]) -> bytes:
    """Hour-file bytes: candles sorted by t0, one line each, trailing newline (byte-stable)."""
    rows = sorted(candles, key=lambda c: int(c["t0"]))
    return "".join(candle_line(c) + "\n" for c in rows).encode()


def validate_hour_files(objects: Mapping[str, bytes]) -> list[Rejected]:
    """Rejected lines of candle files, by the one SPEC §6 validator the warehouse also uses."""
    return list(validate_objects(dict(objects)).rejects)


def valid_lines_by_t0(body: bytes, rejected_line_nos: set[int]) -> dict[int, bytes]:
    """Valid candle lines keyed by t0; a later duplicate t0 wins. Line 0 rejected means the whole
    object was unreadable (the validator's per-object fallback): none of its lines is used."""
    out: dict[int, bytes] = {}
    if 0 in rejected_line_nos:
        return out
    for i, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip() or i in rejected_line_nos:
            continue
        obj = json.loads(raw)
        out[int(obj["t0"])] = raw.strip()
    return out


# -- manifest ------------------------------------------------------------------------------


def upstream_copy_key(key: str) -> str:
    return f"{manifest.FOLDER}/upstream/{key}"


def _sha(b: bytes) -> str:
    return hashlib.sha1(b).hexdigest()


def _is_ours(man: Manifest, key: str, body: bytes) -> bool:
    """Whether this layer wrote `body` at `key` (a finished or an interrupted run's write)."""
    h = _sha(body)
    return h == man["files"].get(key) or h == man["pending"].get(key)


def _hour_code(hour_ms: int) -> str:
    """UTC hour "HH" of an hour start in epoch ms (arithmetic: called per ticker-hour)."""
    return f"{hour_ms // 3_600_000 % 24:02d}"


def _obj_hours(entry: ObjectEntry, d: date) -> set[tuple[str, int]]:
    """(ticker, hour_ms) pairs a manifest object entry touched (stored as {"HH": [tickers]})."""
    by_code = {
        _hour_code(int(h.timestamp() * 1000)): int(h.timestamp() * 1000) for h in keys.footprint_hours_utc(d)
    }
    return {(t, by_code[hh]) for hh, tickers in entry.get("hours", {}).items() for t in tickers}


def _encode_hours(pairs: Iterable[tuple[str, int]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t, h in pairs:
        out.setdefault(_hour_code(h), []).append(t)
    return {hh: sorted(ts) for hh, ts in sorted(out.items())}


# -- listing -------------------------------------------------------------------------------


def footprint_files(lake: Lake, d: date | str, temps: list[str] | None = None) -> list[str]:
    return sorted(footprint_objects(lake, d, temps))


# -- aggregation ---------------------------------------------------------------------------

# Candle lines are serialised by DuckDB's to_json of a struct built in the SPEC §6 key order:
# compact, integers only (sums cast back to BIGINT), levels sorted by price — byte-stable.
# list_sort of the structs (ordered by their first field, p) costs a third of list(... ORDER BY p).
_AGG_SQL = """
WITH p AS (  -- one pass over the trades: per price level, then per candle over the levels
  SELECT ticker, t0, price, any_value(hour_ms) AS hour_ms,
         min(secs * 1000000000000 + trade_no) AS k_first, max(secs * 1000000000000 + trade_no) AS k_last,
         sum(vol)::BIGINT AS vol,
         coalesce(sum(vol) FILTER (WHERE side = 1), 0)::BIGINT AS bv,
         coalesce(sum(vol) FILTER (WHERE side = -1), 0)::BIGINT AS av
  FROM fp_trades GROUP BY ticker, t0, price
), c AS (
  SELECT ticker, t0, any_value(hour_ms) AS hour_ms,
    to_json({'t0': t0, 'ohlc': {'o': arg_min(price, k_first), 'h': max(price), 'l': min(price),
                                'c': arg_max(price, k_last)},
             'vol': sum(vol)::BIGINT, 'delta': (sum(bv) - sum(av))::BIGINT,
             'levels': coalesce(list_sort(list({'p': price, 'bv': bv, 'av': av}) FILTER (WHERE bv + av > 0)), [])
            })::VARCHAR AS line
  FROM p GROUP BY ticker, t0
)
SELECT ticker, hour_ms, count(*) AS n, string_agg(line, chr(10) ORDER BY t0) || chr(10) AS body
FROM c GROUP BY ticker, hour_ms
"""

_CARRY_SQL = """
SELECT ticker, hour_ms, arg_max(price, secs * 1000000000000 + trade_no),
       arg_max(side, secs * 1000000000000 + trade_no)
FROM fp_trades WHERE cont GROUP BY ticker, hour_ms
"""


def _seeds(
    carry: Mapping[str, Mapping[str, list[int]]], keep: set[tuple[str, int]]
) -> dict[str, tuple[int, int]]:
    """Per ticker, the carry of its newest hour before the first rebuilt hour."""
    first: dict[str, int] = {}
    for t, h in keep:
        first[t] = min(h, first.get(t, h))
    out: dict[str, tuple[int, int]] = {}
    for t, hmin in first.items():
        earlier = [(int(h), v) for h, v in carry.get(t, {}).items() if int(h) < hmin]
        if earlier:
            _, (price, side) = max(earlier)
            out[t] = (int(price), int(side))
    return out


def build_footprint(
    lake: Lake, d: date | str, *, force: bool = False, tickers: Iterable[str] | None = None
) -> FootprintResult:
    """Build (or incrementally refresh) the footprint hour files of trading date d.

    `tickers` (the operator's repair of a few tickers, `orderflow materialize --tickers`) rebuilds
    only those tickers' hour files from all of the date's tape, whatever the manifest says, and
    touches no other ticker's file; `force` ignores the manifest for the whole date.
    """
    t_start = time.perf_counter()
    d = keys.as_date(d)
    res = FootprintResult(date=d.isoformat())
    q = QuarantineBatch(LAYER)
    man = manifest.load(lake, d)
    if tickers is not None:
        return _rebuild_tickers(
            lake, d, man, sorted({keys.check_ticker(t) for t in tickers}), q, res, t_start
        )
    if force:
        man = {
            **manifest.empty(d),
            "files": man["files"],
            "pending": man["pending"],
            "upstream_saved": man["upstream_saved"],
        }

    before = manifest.snapshot(man)  # what a killed run must leave behind (plus pending hashes)
    temps: list[str] = []  # `.tmp-*` leftovers of killed writes, seen by the listings below
    listing = tape_objects(lake, d, temps)
    res.tape_objects = len(listing)
    objects = man["objects"]
    new_keys = [
        k for k, info in listing.items() if (e := objects.get(k)) is None or e.get("fp") != info.fingerprint
    ]
    gone = [k for k in objects if k not in listing]
    res.tape_objects_skipped = len(listing) - len(new_keys)

    outputs: dict[str, bytes | None] = {}  # footprint key -> new body (None: no candles left)
    existing: dict[str, bytes] = {}
    present = set(footprint_files(lake, d, temps))  # one listing instead of a GET per possible file
    temps += lake.temp_files(manifest.FOLDER) + lake.temp_files(f"quarantine/{d.isoformat()}/{LAYER}")
    res.stale_temps_removed = len(lake.remove_stale_temps(temps))
    if new_keys or gone:
        con = duckdb.connect()
        try:
            outputs, existing = _rebuild(lake, con, d, man, listing, new_keys, gone, present, q, res)
        finally:
            con.close()

    _validate_upstream(lake, man, present - set(outputs), q, res)
    _write_outputs(lake, d, man, before, outputs, existing, res)

    return _finish(lake, d, man, q, res, t_start)


def _finish(
    lake: Lake, d: date, man: Manifest, q: QuarantineBatch, res: FootprintResult, t_start: float
) -> FootprintResult:
    """Write the run's quarantine and manifest, and time the run (every build path ends here)."""
    if len(q):
        q.write(lake, d)
    res.quarantined = len(q)
    res.quarantine_by_reason = q.by_reason()
    manifest.save(lake, d, man)
    res.seconds = time.perf_counter() - t_start
    return res


def _store_carry(
    con: duckdb.DuckDBPyConnection, man: Manifest, carry: dict[str, dict[str, list[int]]]
) -> None:
    """Add the loaded trades' per ticker-hour carry (last continuous price and side) to `carry`
    (already cleared of the rebuilt ticker-hours) and store it in the manifest, sorted."""
    for t, h, price, side in con.execute(_CARRY_SQL).fetchall():
        carry.setdefault(t, {})[str(int(h))] = [int(price), int(side)]
    man["carry"] = {t: dict(sorted(v.items())) for t, v in sorted(carry.items()) if v}


def _trade_totals(con: duckdb.DuckDBPyConnection, res: FootprintResult) -> None:
    """All lots, neutral (auction/unclassified) lots and tickers of the loaded trades."""
    lots = con.execute(
        f"SELECT coalesce(sum(vol), 0), coalesce(sum(vol) FILTER (WHERE side = 0), 0), count(DISTINCT ticker) "
        f"FROM {tape.TRADES_TABLE}"
    ).fetchone()
    assert lots is not None
    res.total_lots, res.neutral_lots, res.tickers = int(lots[0]), int(lots[1]), int(lots[2])


def _rebuild_tickers(
    lake: Lake,
    d: date,
    man: Manifest,
    tickers: list[str],
    q: QuarantineBatch,
    res: FootprintResult,
    t_start: float,
) -> FootprintResult:
    """Rebuild every hour file of `tickers` for date d from all of the date's tape objects.

    Only these tickers' files, carry and file hashes change. The manifest's `objects` are left
    alone: a tape object not seen yet still counts as new for the other tickers, so the next
    normal run processes it (rebuilding these tickers' touched hours again, identically).
    Malformed lines are not quarantined here (the normal path owns them, once)."""
    before = manifest.snapshot(man)
    listing = tape_objects(lake, d)
    res.tape_objects = len(listing)
    present = set(footprint_files(lake, d))
    hours_ms = [int(h.timestamp() * 1000) for h in keys.footprint_hours_utc(d)]
    keep = {(t, h) for t in tickers for h in hours_ms}
    outputs: dict[str, bytes | None] = {}
    existing: dict[str, bytes] = {}
    if tickers:
        con = duckdb.connect()
        try:
            bodies = _tape_texts(lake.map_many(list(listing)), None)
            read = [k for k in listing if k in bodies]
            load = tape.load_tape(con, d, [bodies[k] for k in read], sources=read, keep=keep, seeds={})
            res.tape_objects_read = len(read)
            res.count_load(load)
            carry: dict[str, dict[str, list[int]]] = {
                t: v for t, v in man["carry"].items() if t not in tickers
            }
            _store_carry(con, man, carry)
            _trade_totals(con, res)
            built: dict[str, bytes | None] = {
                keys.footprint_key(t, datetime.fromtimestamp(h / 1000, tz=timezone.utc)): None
                for t, h in sorted(keep)
            }
            for t, h, n, body in con.execute(_AGG_SQL).fetchall():
                built[keys.footprint_key(t, datetime.fromtimestamp(h / 1000, tz=timezone.utc))] = (
                    body.encode()
                )
                res.candles += int(n)
            outputs = built
            existing = _merge_upstream(lake, man, outputs, present, q, res)
        finally:
            con.close()
    _write_outputs(lake, d, man, before, outputs, existing, res)
    return _finish(lake, d, man, q, res, t_start)


def _tape_texts(blobs: Mapping[str, Blob], q: QuarantineBatch | None) -> dict[str, Blob]:
    """Tape objects as NDJSON bytes (`*.jsonl.gz` decompressed). An object that cannot be read
    becomes empty — no trades, no hours — and, on its first read (`q` given), is quarantined whole
    with the reason; an unchanged object is not read again, so it is quarantined exactly once."""
    out: dict[str, Blob] = {}
    for k, blob in blobs.items():
        try:
            out[k] = tape.object_text(k, blob)
        except tape.BadObject as exc:
            out[k] = b""
            if q is not None:
                q.add(k, 0, str(exc), "")
    return out


def _rebuild(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    d: date,
    man: Manifest,
    listing: Mapping[str, ObjectInfo],
    new_keys: list[str],
    gone: list[str],
    present: set[str],
    q: QuarantineBatch,
    res: FootprintResult,
) -> tuple[dict[str, bytes | None], dict[str, bytes]]:
    objects = man["objects"]
    bodies = _tape_texts(lake.map_many(new_keys), q)
    whole = {r.source: 1 for r in q.items}  # objects quarantined whole before the parse (bad gzip)
    new_keys = [k for k in new_keys if k in bodies]  # vanished between list and read
    first = tape.load_tape(con, d, [bodies[k] for k in new_keys], sources=new_keys, quarantine=q)
    new_hours = tape.hours_by_object(con, d)
    touched: set[tuple[str, int]] = set()
    for hs in new_hours.values():
        touched |= hs
    for k in [*new_keys, *gone]:  # a replaced or removed object's old hours change too
        if k in objects:
            touched |= _obj_hours(objects[k], d)
    old_keys = [k for k in objects if k not in gone and k not in new_keys]
    load = first
    read_keys = list(new_keys)
    if old_keys:
        known: dict[str, set[int]] = {}
        old_hours = {k: _obj_hours(objects[k], d) for k in old_keys}
        for hs in old_hours.values():
            for t, h in hs:
                known.setdefault(t, set()).add(h)
        # rebuild every later hour of a touched ticker too: the tick-rule carry flows forward
        hmin: dict[str, int] = {}
        for t, h in touched:
            hmin[t] = min(h, hmin.get(t, h))
        for t, h0 in hmin.items():
            touched |= {(t, h) for h in known.get(t, ()) if h >= h0}
        related = [k for k in old_keys if old_hours[k] & touched]
        rel_bodies = _tape_texts(lake.map_many(related), None)
        related = [k for k in related if k in rel_bodies]
        read_keys = new_keys + related
        all_bodies = [bodies[k] for k in new_keys] + [rel_bodies[k] for k in related]
        load = tape.load_tape(
            con,
            d,
            all_bodies,
            sources=read_keys,
            quarantine=None,
            keep=touched,
            seeds=_seeds(man["carry"], touched),
        )
        load.rejected = first.rejected
    res.tape_objects_read = len(read_keys)
    res.count_load(load)

    # manifest: objects and carry
    for k in gone:
        objects.pop(k, None)
    for i, k in enumerate(new_keys):
        objects[k] = {
            "fp": listing[k].fingerprint,
            "size": listing[k].size,
            "hours": _encode_hours(new_hours.get(i, ())),
            "rejected": first.rejects_by_object.get(i, 0) + whole.get(k, 0),
        }
    carry: dict[str, dict[str, list[int]]] = man["carry"]
    for t, h in touched:
        carry.get(t, {}).pop(str(h), None)
    _store_carry(con, man, carry)

    _trade_totals(con, res)

    built: dict[tuple[str, int], bytes | None] = dict.fromkeys(touched)
    for t, h, n, body in con.execute(_AGG_SQL).fetchall():
        built[(t, h)] = body.encode()
        res.candles += int(n)
    # one datetime per hour, not per ticker-hour (6,876 keys a full-market day)
    hours = {h: datetime.fromtimestamp(h / 1000, tz=timezone.utc) for h in {h for _, h in built}}
    outputs: dict[str, bytes | None] = {
        keys.footprint_key(t, hours[h]): body for (t, h), body in sorted(built.items())
    }

    existing = _merge_upstream(lake, man, outputs, present, q, res)
    return outputs, existing


def _merge_upstream(
    lake: Lake,
    man: Manifest,
    outputs: dict[str, bytes | None],
    present: set[str],
    q: QuarantineBatch,
    res: FootprintResult,
) -> dict[str, bytes]:
    """Merge the minutes of upstream-landed files into the rebuilt `outputs` (a tape minute
    replaces the upstream minute with the same t0); returns the existing bytes of the outputs."""
    existing = lake.cat_many([k for k in outputs if k in present])
    saved = set(man["upstream_saved"])
    base_bodies: dict[str, bytes] = {}
    for key in outputs:
        if key in saved:
            try:
                base_bodies[key] = lake.read_bytes(upstream_copy_key(key))
            except FileNotFoundError:
                saved.discard(key)
        elif key in existing and not _is_ours(man, key, existing[key]):
            # landed by an upstream: keep a copy so later rebuilds still merge its minutes
            lake.write_bytes(upstream_copy_key(key), existing[key])
            saved.add(key)
            base_bodies[key] = existing[key]
    man["upstream_saved"] = sorted(saved)
    if base_bodies:
        rejects = validate_hour_files(base_bodies)
        by_key: dict[str, set[int]] = {}
        for r in rejects:
            q.items.append(r)
            by_key.setdefault(r.source, set()).add(r.line_no)
        for key, base in base_bodies.items():
            lines = valid_lines_by_t0(base, by_key.get(key, set()))
            tape_body = outputs.get(key)
            if tape_body:
                for raw in tape_body.split(b"\n"):
                    if raw:
                        lines[int(json.loads(raw)["t0"])] = raw
            outputs[key] = b"".join(lines[t] + b"\n" for t in sorted(lines)) or None
            res.upstream_files_validated += 1
    res.hour_files = sum(1 for v in outputs.values() if v is not None)
    return existing


def _validate_upstream(
    lake: Lake, man: Manifest, files: set[str], q: QuarantineBatch, res: FootprintResult
) -> None:
    """Inventory and validate hour files this layer did not write (upstream-landed), once per content."""
    ours = set(man["files"]) | set(man["pending"])
    cands = sorted(k for k in files if k not in ours or k in man["upstream"])
    if not cands:
        return
    bodies = lake.cat_many(cands)
    todo = {
        k: b
        for k, b in bodies.items()
        if ((u := man["upstream"].get(k)) is None or u.get("sha") != _sha(b)) and not _is_ours(man, k, b)
    }
    if not todo:
        return
    rejects = validate_hour_files(todo)
    counts: dict[str, int] = {}
    for r in rejects:
        q.items.append(r)
        counts[r.source] = counts.get(r.source, 0) + 1
    for k, b in todo.items():
        man["upstream"][k] = {
            "sha": _sha(b),
            "rejected": counts.get(k, 0),
            "candles": sum(1 for ln in b.split(b"\n") if ln.strip()) - counts.get(k, 0),
        }
    man["upstream"] = dict(sorted(man["upstream"].items()))
    res.upstream_files_validated += len(todo)


def _write_outputs(
    lake: Lake,
    d: date,
    man: Manifest,
    before: Manifest,
    outputs: Mapping[str, bytes | None],
    existing: Mapping[str, bytes],
    res: FootprintResult,
) -> None:
    """Atomic writes of changed files only. The manifest learns their hashes BEFORE they land
    (in the previous manifest, whose objects still count as unprocessed), so a run killed between
    writes is simply redone by the next run and never mistakes its own files for upstream ones."""
    t_start = time.perf_counter()
    to_write = {k: v for k, v in outputs.items() if v is not None and existing.get(k) != v}
    # a ticker-hour whose trades all vanished (object replaced or removed): drop our file, but
    # never an upstream one (its minutes were merged into `outputs` when it had valid lines)
    to_delete = [
        k for k, v in outputs.items() if v is None and k in existing and _is_ours(man, k, existing[k])
    ]
    res.hour_files_unchanged = sum(1 for k, v in outputs.items() if v is not None and k not in to_write)
    hashes = {k: _sha(v) for k, v in outputs.items() if v is not None}  # once per file, used twice
    if to_write:
        pending = {**before["pending"], **{k: hashes[k] for k in sorted(to_write)}}
        manifest.save_pending(lake, d, before, pending, man["upstream_saved"])
        lake.write_many(to_write)
    for k in to_delete:
        lake.delete(k)
        man["files"].pop(k, None)
    man["files"].update(hashes)
    man["pending"] = {k: h for k, h in man["pending"].items() if k not in outputs}
    man["files"] = dict(sorted(man["files"].items()))
    res.hour_files_written = len(to_write)
    res.hour_files_deleted = len(to_delete)
    res.write_seconds = time.perf_counter() - t_start


# -- checks ----------------------------------------------------------------------------------


def build_and_check(
    job: tuple[Lake, date, bool, list[str] | None],
) -> tuple[FootprintResult, list[CheckOutcome]]:
    """`build_footprint` then `checks` of one date: the unit a backfill spreads over the cores
    (`parallel.ordered_map`); dates are independent (own tape, manifest, quarantine, hour files)."""
    lake, d, force, tickers = job
    res = build_footprint(lake, d, force=force, tickers=tickers)
    return res, checks(lake, None, d)


def checks(lake: Lake, con: duckdb.DuckDBPyConnection | None, d: date | str) -> list[CheckOutcome]:
    """Integrity checks of SPEC §11 for this layer (con unused: lake-only checks)."""
    d = keys.as_date(d)
    listed = footprint_objects(lake, d)
    files = sorted(listed)
    out = [
        CheckOutcome.of(
            "footprint_files_exist",
            bool(files),
            f"{len(files)} footprint hour files for {d}"
            if files
            else f"the lake has no footprint files for {d}",
            {"files": len(files)},
        )
    ]
    n_q = count_quarantined(lake, d, LAYER).get(LAYER, 0)
    out.append(
        CheckOutcome.of(
            "footprint_quarantine_empty",
            n_q == 0,
            f"{n_q} footprint lines quarantined for {d}" + (f" (see quarantine/{d}/{LAYER}/)" if n_q else ""),
            {"quarantined": n_q},
        )
    )
    minutes = idx_calendar.session_minute_starts_ms(d)
    session = set(minutes)
    expected = idx_calendar.expected_minutes(d)
    # each ticker's candle minutes; only files changed since the last check are read (S3: GETs)
    per_ticker = footprint_minutes.minutes_by_ticker(lake, d, listed)
    # "traded all session": a continuous candle in the first and in the last 30 minutes
    head, tail = set(minutes[:30]), set(minutes[-30:])
    low: dict[str, float] = {}
    full = 0
    for t, t0s in sorted(per_ticker.items()):
        if t0s & head and t0s & tail:
            full += 1
            share = len(t0s & session) / expected
            if share < 0.5:
                low[t] = round(share, 3)
    out.append(
        CheckOutcome.of(
            "footprint_completeness",
            not low,
            f"{len(low)} of {full} all-session tickers have < 50% of {expected} expected minutes"
            + (": " + ", ".join(sorted(low)[:50]) if low else ""),
            {"tickers_all_session": full, "incomplete": low, "expected_minutes": expected},
        )
    )
    return out
