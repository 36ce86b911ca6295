"""The footprint layer's manifest (`_state/footprint/{date}.json`): its typed shape, load and save.

Why typed and in one place: the manifest is what makes the five-minute intraday run incremental
(which tape objects were read, which hour files this layer wrote, the tick-rule carry) and what
tells our own hour files from upstream-landed ones. A key misspelt in one of the places that read
it would silently turn a run into a full rebuild, or worse treat our files as upstream. So the
shape is declared once here (TypedDicts, checked by mypy) and only `load`/`save` touch the lake.

A manifest that cannot be used (missing, unreadable, another version, wrong shape) loads as an
empty one: the date is rebuilt from all its tape — slower, never wrong about the tape. The
`files`/`pending` hashes are what protect our own files; `build_footprint(force=True)` keeps them.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import date
from typing import TypedDict

from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake, dumps

VERSION = 1
log = logging.getLogger(__name__)


class ObjectEntry(TypedDict):
    """One tape object as last read: its fingerprint and the (ticker, hour) pairs it touched."""

    fp: str  # S3 ETag or local mtime: a changed fingerprint means "read it again"
    size: int
    hours: dict[str, list[str]]  # UTC hour "HH" -> tickers with regular-board trades there
    rejected: int  # lines (or 1 for the whole object) quarantined when it was read


class UpstreamEntry(TypedDict):
    """An hour file this layer did not write, validated once per content."""

    sha: str
    rejected: int
    candles: int


class Manifest(TypedDict):
    version: int
    date: str
    objects: dict[str, ObjectEntry]  # tape key -> entry
    files: dict[str, str]  # footprint key -> sha1 of the body this layer wrote
    pending: dict[str, str]  # footprint key -> sha1 about to be written (recorded before the write)
    carry: dict[str, dict[str, list[int]]]  # ticker -> hour_ms -> [last continuous price, side]
    upstream: dict[str, UpstreamEntry]
    upstream_saved: list[str]  # upstream files whose copy is kept under _state/footprint/upstream/


_CONTAINERS: dict[str, type] = {
    "objects": dict,
    "files": dict,
    "pending": dict,
    "carry": dict,
    "upstream": dict,
    "upstream_saved": list,
}


FOLDER = "_state/footprint"


def key(d: date | str) -> str:
    return f"{FOLDER}/{keys.as_date(d).isoformat()}.json"


def empty(d: date | str) -> Manifest:
    return {
        "version": VERSION,
        "date": keys.as_date(d).isoformat(),
        "objects": {},
        "files": {},
        "pending": {},
        "carry": {},
        "upstream": {},
        "upstream_saved": [],
    }


def load(lake: Lake, d: date | str) -> Manifest:
    """The date's manifest, or an empty one when it is missing or unusable (see the module doc)."""
    return load_read(lake, d)[0]


def load_read(lake: Lake, d: date | str) -> tuple[Manifest, bytes | None]:
    """`load`, with the bytes read when they made the manifest (None: missing or unusable), so
    `save` of an unchanged manifest neither reads nor writes it again."""
    try:
        data = lake.read_bytes(key(d))
        raw = json.loads(data)
    except FileNotFoundError:
        return empty(d), None
    except (ValueError, RecursionError) as exc:
        log.warning(
            "footprint manifest %s is unreadable (%s): rebuilding the date from its tape", key(d), exc
        )
        return empty(d), None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        return empty(d), None
    man = empty(d)
    for name, kind in _CONTAINERS.items():
        if name in raw:
            if not isinstance(raw[name], kind):
                log.warning(
                    "footprint manifest %s: %r is not a %s: rebuilding the date", key(d), name, kind.__name__
                )
                return empty(d), None
            man[name] = raw[name]  # type: ignore[literal-required]
    return man, data


def snapshot(man: Manifest) -> Manifest:
    """A deep copy: what a run killed half-way must leave behind (plus the pending hashes)."""
    return copy.deepcopy(man)


def encode(man: Manifest) -> bytes:
    return dumps(man)


def save(lake: Lake, d: date | str, man: Manifest, read: bytes | None = None) -> bool:
    """Write the manifest when it changed (an unchanged re-run rewrites nothing); `read`: the
    bytes `load_read` gave this run (equal to the new ones: nothing to read or write)."""
    data = encode(man)
    if read is not None and data == read:
        return False
    return lake.write_if_changed(key(d), data)


def save_pending(
    lake: Lake, d: date | str, before: Manifest, pending: dict[str, str], upstream_saved: list[str]
) -> None:
    """Record intent before hour files are written: the previous manifest (whose objects still
    count as unread) plus the hashes about to land, so a killed run is redone, never mistaken."""
    out: Manifest = {**before, "pending": pending, "upstream_saved": upstream_saved}
    lake.write_bytes(key(d), encode(out))
