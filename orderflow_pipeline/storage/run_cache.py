"""The lake of one Dagster run on S3: its listings and object bodies kept for the run.

Why: on S3 each listing is a round trip per 1,000 keys, and the layers of one run (footprint, its
checks, warehouse, coverage, summary, universe, the features checks) each asked for the same
date's listing — twelve listings per date, most of an unchanged re-run. Here a prefix is listed
once per run and a narrower prefix is cut from a kept wider listing; a layer reading what an
earlier layer of the run wrote or read (footprint -> checks -> warehouse -> summary) costs no GET.

What keeps it exact: our own writes and deletes update the kept listings (a PUT answers with the
ETag a listing would show), and a body is served only while the run's listing shows its key with
an ETag equal to the body's MD5 — the store then holds exactly these bytes. Objects written by
other processes during the run are seen by the next run (a run works on the snapshot it listed,
as one listing per layer did before).

Lifetime: only the Dagster lake resource makes one (`for_run`, in its `setup_for_execution`), so
it lives as long as the run's initialised resources; everything else — the API, the CLI, scripts —
uses the plain `Lake`, which lists afresh every time. `close` drops what it holds.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orderflow_pipeline.storage.lake import Lake, ObjectInfo, md5_hex
from orderflow_pipeline.storage.run_listings import RunListedLake

BODY_CACHE_BYTES = 256 << 20  # bodies kept per run (least recently used go first)
PREFETCH_BYTES = BODY_CACHE_BYTES // 4  # bodies one `prefetch` fetches at most


def for_run(root: str, endpoint_url: str | None = None, **storage_options: Any) -> Lake:
    """The lake one run uses: run-cached on S3; on a local folder (no request to save, a read is
    a page-cache copy) only the footprint listings are kept for the run (`run_listings`)."""
    if root.startswith("s3://"):
        return RunCachedLake(root, endpoint_url, **storage_options)
    return RunListedLake(root, endpoint_url, **storage_options)


class RunCachedLake(Lake):
    """A `Lake` that keeps its S3 listings and bodies until `close` (the end of the run)."""

    def __init__(self, root: str, endpoint_url: str | None = None, **storage_options: Any) -> None:
        super().__init__(root, endpoint_url, **storage_options)
        self._lock = threading.Lock()
        # listed prefix (a key prefix) -> its objects, or None when the listing stopped at its limit
        self._listings: dict[str, dict[str, ObjectInfo] | None] = {}
        self._fps: dict[str, str] = {}  # key -> fingerprint in this run's listings, PUTs or GETs
        self._missing: set[str] = set()  # keys a GET of this run found absent (until we write them)
        self._bodies: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # key -> (MD5 hex, bytes)
        self._body_bytes = 0

    def close(self) -> None:
        """Drop the run's listings and bodies (others wrote to the lake, or the run is over)."""
        with self._lock:
            self._listings, self._bodies = {}, OrderedDict()
            self._fps, self._body_bytes, self._missing = {}, 0, set()

    def __getstate__(self) -> dict[str, Any]:
        """Sent to a worker process: the copy starts with an empty cache of its own, and this
        side drops what it kept, because the worker may write through its copy and listings kept
        here would not show those writes. Both sides keep caching from then on."""
        self.close()
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def prefetch(self, keys: Iterable[str] = (), prefixes: Iterable[str] = ()) -> None:
        """Lists `prefixes` and reads `keys` (in the order given, 64 at a time) until the bodies
        fetched pass `PREFETCH_BYTES`: a hint, so a year of large manifests does not push out of
        the cache what it fetched first; the rest is read when asked for."""
        todo_prefixes = builtins.list(dict.fromkeys(prefixes))
        if todo_prefixes:
            self.scan(todo_prefixes)
        todo = [k for k in dict.fromkeys(keys) if self._recall(k) is None and not self._absent(k)]
        fetched = 0
        for i in range(0, len(todo), 64):
            fetched += sum(len(b) for b in self.cat_many(todo[i : i + 64]).values())
            if fetched > PREFETCH_BYTES:
                return

    # -- the Lake's run cache hooks ----------------------------------------------------------
    def _cached(self, pfx: str) -> tuple[bool, dict[str, ObjectInfo] | None]:
        with self._lock:
            if pfx in self._listings:
                return True, self._listings[pfx]
            for wider, objs in self._listings.items():
                if objs is not None and pfx.startswith(wider):
                    return True, {k: o for k, o in objs.items() if k.startswith(pfx)}
        return False, None

    def _listed(self, prefixes: Sequence[str], got: Sequence[dict[str, ObjectInfo] | None]) -> None:
        with self._lock:
            self._listings.update(zip(prefixes, got, strict=True))
            for objs in got:
                self._fps.update((k, o.fingerprint) for k, o in (objs or {}).items())
                self._missing.difference_update(objs or ())

    def _touched(self, keys: Iterable[str], written: Mapping[str, ObjectInfo] | None = None) -> None:
        """Bring the kept listings in line with our own writes of `keys`.

        A key in `written` (its size and the ETag the PUT answered, which is what a listing
        shows) is put into every kept listing that covers it; a key whose outcome is unknown (a
        failed PUT or delete) drops the listings that cover it, so the next request lists again."""
        written = written or {}
        with self._lock:
            for key in keys:
                self._missing.discard(key)
                info = written.get(key)
                covering = [p for p in self._listings if key.startswith(p)]
                if info is None:
                    self._fps.pop(key, None)
                    for pfx in covering:
                        del self._listings[pfx]
                    continue
                self._fps[key] = info.fingerprint
                for pfx in covering:
                    objs = self._listings[pfx]
                    if objs is not None:
                        objs[key] = info

    def _deleted(self, key: str) -> None:
        with self._lock:
            self._fps.pop(key, None)
            self._missing.add(key)
            for objs in self._listings.values():
                if objs is not None:
                    objs.pop(key, None)

    def _remember(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            for key, body in items:
                if len(body) > BODY_CACHE_BYTES // 16:
                    continue
                old = self._bodies.pop(key, None)
                if old is not None:
                    self._body_bytes -= len(old[1])
                self._bodies[key] = (md5_hex(body), body)
                self._body_bytes += len(body)
            while self._body_bytes > BODY_CACHE_BYTES:
                _, (_, gone) = self._bodies.popitem(last=False)
                self._body_bytes -= len(gone)

    def _fetched(self, items: Iterable[tuple[str, bytes]]) -> None:
        """A body read by GET is the run's snapshot of its key when no listing of the run showed
        the key (as the run's listing is for the keys it holds): kept, and served while no later
        listing or write says the object changed. A key a listing showed keeps the listing's
        fingerprint: served again only if the body is what the listing showed."""
        items = builtins.list(items)
        with self._lock:
            for key, body in items:
                self._missing.discard(key)
                if key not in self._fps:
                    self._fps[key] = md5_hex(body)
        self._remember(items)

    def _gone(self, key: str) -> None:
        with self._lock:
            if key not in self._fps:  # no listing or write of the run says it exists
                self._missing.add(key)

    def _info_of(self, key: str) -> tuple[bool, ObjectInfo | None]:
        with self._lock:
            if key in self._missing:
                return True, None
            for wider, objs in self._listings.items():
                if objs is not None and key.startswith(wider):
                    return True, objs.get(key)
        return False, None

    def _absent(self, key: str) -> bool:
        if key in self._fps:  # listed, written or read by this run: an object (the common case)
            return False
        return self._info_of(key) == (True, None)

    def _recall(self, key: str) -> bytes | None:
        if not self._bodies:
            return None
        with self._lock:
            hit = self._bodies.get(key)
            if hit is None or self._fps.get(key) != hit[0]:
                return None
            self._bodies.move_to_end(key)
            return hit[1]
