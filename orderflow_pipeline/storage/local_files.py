"""The local-folder side of the lake's reads and writes: atomic file writes, bulk reads (copied or
memory-mapped) and the sweep of temp files a killed write left behind.

Why its own module: `storage.lake.Lake` is the one API over a local folder and S3; the local
folder's mechanics (temp file + rename, threads per slice of keys, mmap) are a role of their own
and kept the lake module under its size limit. `Lake` calls these with absolute paths.
"""

from __future__ import annotations

import logging
import mmap
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from orderflow_pipeline.storage import local_walk

# Logged as the lake: its sweep is the lake's own housekeeping, and operators filter on that name.
log = logging.getLogger("orderflow_pipeline.storage.lake")

TEMP_PREFIX = ".tmp-"  # local atomic writes go to `{folder}/.tmp-{pid}-{thread}-{name}`, then rename
# A temp file older than this was left by a killed write (a live write lasts milliseconds, an hour
# is far beyond any run's write phase): the next run may remove it without racing a writer.
STALE_TEMP_SECONDS = 3600.0


def write_atomic(
    final: str, chunks: Iterable[bytes | bytearray | memoryview], durable: bool, folders: set[str]
) -> os.stat_result:
    """Write `chunks` to `final` through a temp file in the same folder and `os.replace`, so a
    killed process never leaves a torn file; returns the temp file's stat before the rename (the
    rename keeps size and mtime). `folders`: folders known to exist (saves a mkdir per write)."""
    folder, _, name = final.rpartition("/")
    if folder not in folders:
        os.makedirs(folder, exist_ok=True)
        folders.add(folder)
    # Unique per process and thread, so concurrent writers never share a temp file; the
    # ".tmp-" prefix keeps it out of listings until the rename.
    tmp = f"{folder}/{TEMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{name}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileNotFoundError:  # the folder was removed since we cached it
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o644)
    try:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        return st
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_many(keys: list[str], path: Callable[[str], str], max_workers: int) -> dict[str, bytes]:
    """The bodies of `keys` (in the order asked); a key that vanished is left out."""

    def one(key: str) -> tuple[str, bytes | None]:
        try:
            with open(path(key), "rb") as fh:
                return key, fh.read()
        except OSError as exc:  # gone, or turned into a bad link, since it was listed
            if exc.errno not in local_walk.GONE_ERRNOS:
                raise
            return key, None

    def some(chunk: list[str]) -> list[tuple[str, bytes | None]]:
        return [one(k) for k in chunk]

    if len(keys) < 8:
        pairs = some(keys)
    else:
        # One task per slice of keys, not per key: a future per small file cost more than the
        # read itself (a 6,300-object day read 2x slower); slices keep cold-disk reads parallel.
        n = min(max_workers, 16)
        with ThreadPoolExecutor(max_workers=n) as pool:
            got = dict(p for part in pool.map(some, [keys[i::n] for i in range(n)]) for p in part)
        pairs = [(k, got[k]) for k in keys]  # in the order asked, as before
    return {k: b for k, b in pairs if b is not None}


def map_many(keys: list[str], path: Callable[[str], str]) -> dict[str, bytes | mmap.mmap]:
    """The bodies of `keys` memory-mapped (populated in one call); a vanished key is left out."""
    out: dict[str, bytes | mmap.mmap] = {}
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    for key in keys:
        try:
            with open(path(key), "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                out[key] = mmap.mmap(fh.fileno(), size, flags=flags, prot=mmap.PROT_READ) if size else b""
        except OSError as exc:  # as in `read_many`
            if exc.errno not in local_walk.GONE_ERRNOS:
                raise
    return out


def temp_files(folder_path: str, folder: str) -> list[str]:
    """Keys of `.tmp-*` files directly in `folder` (at `folder_path`)."""
    try:
        with os.scandir(folder_path) as it:
            names = [e.name for e in it if e.name.startswith(TEMP_PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [posixpath.join(folder.strip("/"), n) for n in sorted(names)]


def remove_stale_temps(keys: Iterable[str], path: Callable[[str], str], max_age_s: float) -> list[str]:
    """Remove the temp files among `keys` older than `max_age_s`; log and return what went."""
    now = time.time()
    removed: list[str] = []
    for key in keys:
        if not posixpath.basename(key).startswith(TEMP_PREFIX):
            continue
        try:
            age = now - os.stat(path(key)).st_mtime
            if age <= max_age_s:
                continue
            os.unlink(path(key))
        except FileNotFoundError:
            continue
        log.warning("removed stale temp file %s (%.0f s old, left by a killed write)", key, age)
        removed.append(key)
    return removed
