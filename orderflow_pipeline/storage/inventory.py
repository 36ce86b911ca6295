"""Which lake objects belong to a WIB trading date: one listing rule for every layer.

The footprint layer, the warehouse manifest, the sensors, the integrity report and the API must
agree on "the date's objects", or a sensor sees a change the warehouse never loads. A WIB date
spans two UTC date folders (17:00 UTC the day before .. 16:59 UTC), and in footprint keys the
date sits below the ticker, so no single prefix holds a date.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterable
from datetime import date

from fsspec.asyn import sync

from orderflow_pipeline.storage import keys as K
from orderflow_pipeline.storage import local_walk
from orderflow_pipeline.storage.lake import TEMP_PREFIX, Lake, ObjectInfo, _fingerprint
from orderflow_pipeline.storage.run_listings import RunListedLake

TAPE_SUFFIXES = (".jsonl", ".jsonl.gz")
log = logging.getLogger(__name__)


def tape_objects(
    lake: Lake, d: date | str, temps: list[str] | None = None, bad: list[tuple[str, str]] | None = None
) -> dict[str, ObjectInfo]:
    """raw_lt objects whose UTC hour folder's WIB date is d (trade date rule of SPEC §5).

    `*.jsonl` and gzip'd `*.jsonl.gz` objects: a compressed lake is a reasonable choice for a user,
    and an object of either kind that cannot be read is quarantined by the parser, not skipped.
    `bad` receives (key, reason) of the date's entries that cannot be read at all (a symlink loop
    or one without a target, `Lake.list_info`), whatever their name: a bad link may hide tape."""
    d = K.as_date(d)
    out: dict[str, ObjectInfo] = {}
    for prefix in tape_prefixes(d):
        broken: list[tuple[str, str]] = []
        for key, info in lake.list_info(prefix, temps=temps, bad=broken).items():
            if key.endswith(TAPE_SUFFIXES) and _trade_date(key) == d:
                out[key] = info
        for k, why in broken:  # a bad hour folder itself (`raw_lt/.../05`) belongs to its hour's date
            owner = _trade_date(k) or _trade_date(k + "/")
            if owner is None:  # not under an hour folder: no date's quarantine holds it
                log.warning("%s: skipped %s: %s", lake, k, why)
            elif owner == d and bad is not None:
                bad.append((k, why))
    return dict(sorted(out.items()))


def tape_prefixes(d: date | str) -> list[str]:
    """The UTC day folders `tape_objects` lists for WIB date `d` (two: a WIB date spans them)."""
    return [
        f"raw_lt/{day}/" for day in sorted({f"{h:%Y/%m/%d}" for h in K.footprint_hours_utc(K.as_date(d))})
    ]


def _trade_date(key: str) -> date | None:
    try:
        return K.trade_date_of_raw_key(key)
    except ValueError:  # not under an hour folder: not tape
        return None


def listing_digest(objects: Iterable[ObjectInfo]) -> str:
    """Order-independent digest of (key, size, fingerprint): changes when any object is added,
    removed or replaced. The warehouse records the digest of the listing it loaded; the lake
    sensor compares it with the listing it sees (one definition for both)."""
    h = hashlib.sha256()
    for o in sorted(objects, key=lambda o: o.key):
        h.update(f"{o.key}\0{o.size}\0{o.fingerprint}\n".encode())
    return h.hexdigest()[:16]


def footprint_tickers(objects: dict[str, ObjectInfo] | list[str]) -> set[str]:
    return {K.parse_footprint_key(k)[0] for k in objects}


def footprint_objects(lake: Lake, d: date | str, temps: list[str] | None = None) -> dict[str, ObjectInfo]:
    """Every footprint object of WIB date `d` (its 24 UTC hours) with size and fingerprint.

    The date sits below the ticker in the key, so no single prefix holds a date. Local: one
    directory read per ticker and UTC day. S3: one paginated listing of `footprint/` while it
    holds fewer than S3_FLAT_LISTING_MAX objects (a young lake), else one listing per ticker and
    month run concurrently — never one request per object, never a walk that grows with history.
    `temps`, when given, receives the keys of `.tmp-*` files seen in the same folders (local only;
    a killed write's leftovers, swept by the footprint layer at no extra directory read).
    The lake of a Dagster run on a local folder keeps the listing until the run writes footprint
    files (`run_listings.RunListedLake`): the run's layers list a date once, not each its own.
    """
    d = K.as_date(d)
    if isinstance(lake, RunListedLake):
        return lake.footprint_listing(d, lambda: _footprint_objects(lake, d, temps), fresh=temps is not None)
    return _footprint_objects(lake, d, temps)


def _footprint_objects(lake: Lake, d: date, temps: list[str] | None) -> dict[str, ObjectInfo]:
    hours = {(f"{h:%Y/%m/%d}", f"{h:%H}") for h in K.footprint_hours_utc(d)}
    days = sorted({day for day, _ in hours})
    return _list_s3(lake, days, hours) if lake.is_s3 else _list_local(lake, days, hours, temps)


def _list_local(
    lake: Lake, days: list[str], hours: set[tuple[str, str]], temps: list[str] | None = None
) -> dict[str, ObjectInfo]:
    root = lake.path("footprint")
    out: dict[str, ObjectInfo] = {}
    try:
        tickers = sorted(e.name for e in os.scandir(root) if K.TICKER_RE.match(e.name) and _is_dir(e))
    except FileNotFoundError:
        return out
    for t in tickers:
        for day in days:
            try:
                entries = list(os.scandir(os.path.join(root, t, "1m", day)))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # e.g. the day folder is a symlink loop: no files, not a failed run
                log.warning("%s: skipped footprint/%s/1m/%s: %s", lake, t, day, exc)
                continue
            for e in entries:
                name = e.name
                if temps is not None and name.startswith(TEMP_PREFIX):
                    temps.append(f"footprint/{t}/1m/{day}/{name}")
                    continue
                if not name.endswith(".jsonl") or name.startswith(".") or (day, name[:-6]) not in hours:
                    continue
                key = f"footprint/{t}/1m/{day}/{name}"
                st = local_walk.entry_stat(e)
                if isinstance(st, local_walk.BadLink) or not stat.S_ISREG(st.st_mode):
                    # not ours (we write files, never links): the warehouse skips it, the log says why
                    log.warning("%s: skipped %s: %s", lake, key, getattr(st, "reason", "not a regular file"))
                    continue
                out[key] = ObjectInfo(
                    key, st.st_size, _fingerprint({"mtime": st.st_mtime, "size": st.st_size})
                )
    return dict(sorted(out.items()))


def footprint_tickers_by_date(lake: Lake, dates: Iterable[date | str]) -> dict[date, set[str]]:
    """`footprint_tickers(footprint_objects(lake, d))` for every date of `dates`, in one pass.

    Why: a backfill's universe, features checks and summary each asked for every date's tickers,
    one listing per date, and each listing stats every hour file for a size the question does not
    need. Local: each (ticker, UTC day) folder is read once for all the dates it serves (a UTC day
    belongs to two WIB dates), and an entry is a file by its directory entry alone (a regular file
    costs no stat; a link is followed, and one that cannot be is no file, as in `_list_local`).
    S3: the per-date listing (the run's listing cache makes the repeats free). A Dagster run's
    local lake answers a date it keeps the listing of from that listing (`RunListedLake`)."""
    ds = sorted({K.as_date(d) for d in dates})
    if lake.is_s3:
        return {d: footprint_tickers(footprint_objects(lake, d)) for d in ds}
    kept = lake.kept_footprint_listings(ds) if isinstance(lake, RunListedLake) else {}
    out: dict[date, set[str]] = {d: footprint_tickers(list(kept[d])) if d in kept else set() for d in ds}
    slot: dict[str, dict[str, set[str]]] = {}  # UTC day folder -> hour -> the WIB date's set
    for d in (d for d in ds if d not in kept):
        for h in K.footprint_hours_utc(d):
            slot.setdefault(f"{h:%Y/%m/%d}", {})[f"{h:%H}.jsonl"] = out[d]
    if not slot:
        return out
    root = lake.path("footprint")
    try:
        tickers = sorted(e.name for e in os.scandir(root) if K.TICKER_RE.match(e.name) and _is_dir(e))
    except FileNotFoundError:
        return out
    for t in tickers:
        for day, hours in slot.items():
            try:
                with os.scandir(os.path.join(root, t, "1m", day)) as it:
                    for e in it:
                        target = hours.get(e.name)
                        if target is not None and t not in target and _is_file(e):
                            target.add(t)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # e.g. the day folder is a symlink loop: no files (as _list_local)
                log.warning("%s: skipped footprint/%s/1m/%s: %s", lake, t, day, exc)
    return out


def _is_file(e: os.DirEntry[str]) -> bool:
    """Whether an entry is (or links to) a regular file; a link that cannot be followed is not."""
    try:
        return e.is_file()
    except OSError:
        return False


def _is_dir(e: os.DirEntry[str]) -> bool:
    """Whether an entry is (or links to) a directory; a bad link is not one (and is logged)."""
    st = local_walk.entry_stat(e)
    if isinstance(st, local_walk.BadLink):
        log.warning("skipped %s: %s", e.path, st.reason)
        return False
    return stat.S_ISDIR(st.st_mode)


# A lake whose footprint/ holds fewer objects than this is listed in one paginated request
# stream (1,000 keys a page); beyond it one listing per ticker and month, run concurrently,
# keeps the cost flat as history grows.
S3_FLAT_LISTING_MAX = 20_000


def _list_s3(lake: Lake, days: list[str], hours: set[tuple[str, str]]) -> dict[str, ObjectInfo]:
    listed = lake.scan(["footprint/"], limit=S3_FLAT_LISTING_MAX)
    if listed is None:
        # Tickers from one delimited listing of footprint/, then one listing per ticker and month
        # (the date's two UTC days share a month except on the 1st), concurrently.
        top = sync(lake.fs.loop, lake.fs._lsdir, lake.path("footprint"), refresh=True)
        tickers = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in top if e.get("type") == "directory"]
        months = sorted({day[:8] for day in days})
        prefixes = [f"footprint/{t}/1m/{m}" for t in tickers if K.TICKER_RE.match(t) for m in months]
        listed = lake.scan(prefixes) or {}
    out: dict[str, ObjectInfo] = {}
    for key, info in listed.items():
        m = K.FOOTPRINT_KEY_RE.match(key)
        if m and ("/".join(m.groups()[1:4]), m.group(5)) in hours:
            out[key] = info
    return dict(sorted(out.items()))
