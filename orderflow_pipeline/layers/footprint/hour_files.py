"""The footprint layer's hour files: listing them, telling ours from upstream-landed ones,
validating and merging the upstream ones, and writing the changed ones.

Why "ours" is a content hash: an upstream feed may land hour files in the same folders. The
manifest records the hash of every file this layer wrote (and, before the write lands, of every
file it is about to write), so a file whose bytes match neither is upstream: it is kept, validated
once per content by the one SPEC §6 validator, saved aside (`_state/footprint/upstream/…`) so later
rebuilds can still merge its minutes, and never deleted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import date

from orderflow_pipeline.layers.footprint import manifest
from orderflow_pipeline.layers.footprint.candles import validate_objects
from orderflow_pipeline.layers.footprint.manifest import Manifest
from orderflow_pipeline.layers.footprint.result import FootprintResult
from orderflow_pipeline.storage.inventory import footprint_objects
from orderflow_pipeline.storage.lake import Lake, ObjectInfo
from orderflow_pipeline.storage.quarantine import QuarantineBatch, Rejected


def footprint_files(lake: Lake, d: date | str, temps: list[str] | None = None) -> list[str]:
    return sorted(footprint_objects(lake, d, temps))


def upstream_copy_key(key: str) -> str:
    return f"{manifest.FOLDER}/upstream/{key}"


def content_hash(b: bytes) -> str:
    return hashlib.sha1(b).hexdigest()


def is_ours(man: Manifest, key: str, body: bytes) -> bool:
    """Whether this layer wrote `body` at `key` (a finished or an interrupted run's write)."""
    h = content_hash(body)
    return h == man["files"].get(key) or h == man["pending"].get(key)


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


def merge_upstream(
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
        elif key in existing and not is_ours(man, key, existing[key]):
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


def validate_upstream(
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
        if ((u := man["upstream"].get(k)) is None or u.get("sha") != content_hash(b))
        and not is_ours(man, k, b)
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
            "sha": content_hash(b),
            "rejected": counts.get(k, 0),
            "candles": sum(1 for ln in b.split(b"\n") if ln.strip()) - counts.get(k, 0),
        }
    man["upstream"] = dict(sorted(man["upstream"].items()))
    res.upstream_files_validated += len(todo)


def write_outputs(
    lake: Lake,
    d: date,
    man: Manifest,
    before: Manifest,
    outputs: Mapping[str, bytes | None],
    existing: Mapping[str, bytes],
    res: FootprintResult,
) -> dict[str, ObjectInfo]:
    """Atomic writes of changed files only. The manifest learns their hashes BEFORE they land
    (in the previous manifest, whose objects still count as unprocessed), so a run killed between
    writes is simply redone by the next run and never mistakes its own files for upstream ones.
    Returns what a listing shows for the files written (where the store told)."""
    t_start = time.perf_counter()
    to_write = {k: v for k, v in outputs.items() if v is not None and existing.get(k) != v}
    # a ticker-hour whose trades all vanished (object replaced or removed): drop our file, but
    # never an upstream one (its minutes were merged into `outputs` when it had valid lines)
    to_delete = [
        k for k, v in outputs.items() if v is None and k in existing and is_ours(man, k, existing[k])
    ]
    res.hour_files_unchanged = sum(1 for k, v in outputs.items() if v is not None and k not in to_write)
    hashes = {k: content_hash(v) for k, v in outputs.items() if v is not None}  # once per file, used twice
    written: dict[str, ObjectInfo] = {}
    if to_write:
        pending = {**before["pending"], **{k: hashes[k] for k in sorted(to_write)}}
        manifest.save_pending(lake, d, before, pending, man["upstream_saved"])
        written = lake.write_many(to_write)
    for k in to_delete:
        lake.delete(k)
        man["files"].pop(k, None)
    man["files"].update(hashes)
    man["pending"] = {k: h for k, h in man["pending"].items() if k not in outputs}
    man["files"] = dict(sorted(man["files"].items()))
    res.hour_files_written = len(to_write)
    res.hour_files_deleted = len(to_delete)
    res.write_seconds = time.perf_counter() - t_start
    return written
