"""Which broker summaries the lake holds: `raw-broksum/{T}/{YYYY-MM-DD}.json` (SPEC §4).

A dated object under a folder that is not a valid ticker (SPEC §7 pattern, `keys.TICKER_RE`) is
reported as invalid with the reason, so the build quarantines it instead of skipping it without
a trace. Objects whose name is not a date cannot be attributed to a day and are not listed.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from orderflow_pipeline.storage import local_walk
from orderflow_pipeline.storage.keys import as_date, check_ticker
from orderflow_pipeline.storage.lake import TEMP_PREFIX, Lake, ObjectInfo, _fingerprint

PREFIX = "raw-broksum/"
log = logging.getLogger(__name__)
# The folder is matched loosely and validated with keys.check_ticker: one ticker rule, in keys.py.
KEY_RE = re.compile(r"^raw-broksum/([^/]+)/(\d{4}-\d{2}-\d{2})\.json$")


def split_key(key: str) -> tuple[str, date] | None:
    """(folder, date) of a dated broker-summary key (the folder not yet validated); else None."""
    m = KEY_RE.match(key)
    if not m:
        return None
    try:
        return m.group(1), date.fromisoformat(m.group(2))
    except ValueError:  # 2026-13-45.json
        return None


def ticker_error(folder: str) -> str | None:
    """None for a valid ticker folder, else the quarantine reason."""
    try:
        check_ticker(folder)
    except ValueError as exc:
        return f"invalid_ticker: folder {folder!r} is not a ticker ({exc})"
    return None


@dataclass
class BroksumListing:
    objects: dict[tuple[str, date], tuple[str, str]] = field(default_factory=dict)  # -> (key, fingerprint)
    invalid: dict[str, tuple[date, str]] = field(default_factory=dict)  # key -> (date, reason)


def list_broksum(lake: Lake, dates: Iterable[date]) -> BroksumListing:
    """The broker summaries of `dates`, from ONE listing of `raw-broksum/`."""
    wanted = set(dates)
    out = BroksumListing()
    bad: dict[str, str] = {}  # local: entries a symlink makes unreadable (a loop, no target)
    found = _list_local(lake, bad) if not lake.is_s3 else lake.list_info(PREFIX)
    for key, why in bad.items():
        parts = split_key(key)
        if parts is not None and parts[1] in wanted:
            out.invalid[key] = (parts[1], why)
        elif parts is None:  # not a dated file (e.g. a ticker folder that loops): no date holds it
            log.warning("%s: skipped %s: %s", lake, key, why)
    for key, info in found.items():
        parts = split_key(key)
        if parts is None or parts[1] not in wanted:
            continue
        folder, d = parts
        reason = ticker_error(folder)
        if reason is None:
            out.objects[(folder, d)] = (key, info.fingerprint)
        else:
            out.invalid[key] = (d, reason)
    return out


def _list_local(lake: Lake, bad: dict[str, str] | None = None) -> dict[str, ObjectInfo]:
    """`lake.list_info(PREFIX)` for a local lake, restricted to `{folder}/{name}.json` keys (the only
    ones `split_key` accepts), with the same sizes and fingerprints: one directory read per folder.

    Why: fsspec's recursive find builds an info dict per file through several path
    normalisations; over a year of broker summaries (~70k files) that cost ~10 s per listing.
    An entry a symlink makes unreadable (`local_walk.entry_stat`) goes to `bad` with the reason."""
    root = lake.path(PREFIX.rstrip("/"))
    out: dict[str, ObjectInfo] = {}
    bad = {} if bad is None else bad
    try:
        top = list(os.scandir(root))
    except FileNotFoundError:
        return out
    folders = []
    for e in top:
        st = local_walk.entry_stat(e)
        if isinstance(st, local_walk.BadLink):
            bad[f"{PREFIX}{e.name}"] = st.reason
        elif stat.S_ISDIR(st.st_mode):
            folders.append(e.name)
    for folder in folders:
        try:
            entries = list(os.scandir(os.path.join(root, folder)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if not e.name.endswith(".json") or e.name.startswith(TEMP_PREFIX):
                continue
            key = f"{PREFIX}{folder}/{e.name}"
            st = local_walk.entry_stat(e)
            if isinstance(st, local_walk.BadLink):
                bad[key] = st.reason
            elif stat.S_ISREG(st.st_mode):
                out[key] = ObjectInfo(
                    key, st.st_size, _fingerprint({"mtime": st.st_mtime, "size": st.st_size})
                )
    return out


def broksum_tickers_by_date(lake: Lake, dates: Iterable[date]) -> dict[date, set[str]]:
    """Valid tickers with a broker summary, per date of `dates`, from ONE listing.

    A backfill's checks ask this for every date: one glob per date walked the whole
    `raw-broksum/` tree each time (71k files × 237 dates: most of a year's daily_features)."""
    listing = list_broksum(lake, dates)
    out: dict[date, set[str]] = {d: set() for d in dates}
    for ticker, d in listing.objects:
        out[d].add(ticker)
    return out


def broksum_tickers(lake: Lake, d: date | str) -> set[str]:
    """Valid tickers with a broker summary for date d."""
    day = as_date(d).isoformat()
    out: set[str] = set()
    # cast: Lake.glob's `list[str]` annotation resolves to the Lake.list method inside the class.
    for key in cast(Iterable[str], lake.glob(f"{PREFIX}*/{day}.json")):
        parts = split_key(key)
        if parts is not None and ticker_error(parts[0]) is None:
            out.add(parts[0])
    return out
