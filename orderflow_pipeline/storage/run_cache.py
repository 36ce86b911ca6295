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

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orderflow_pipeline.storage.lake import Lake, ObjectInfo
from orderflow_pipeline.storage.run_listings import RunListedLake

BODY_CACHE_BYTES = 256 << 20  # bodies kept per run (least recently used go first)


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
        self._fps: dict[str, str] = {}  # key -> fingerprint in this run's listings
        self._bodies: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # key -> (MD5 hex, bytes)
        self._body_bytes = 0

    def close(self) -> None:
        """Drop the run's listings and bodies (others wrote to the lake, or the run is over)."""
        with self._lock:
            self._listings, self._bodies = {}, OrderedDict()
            self._fps, self._body_bytes = {}, 0

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

    def _touched(self, keys: Iterable[str], written: Mapping[str, ObjectInfo] | None = None) -> None:
        """Bring the kept listings in line with our own writes of `keys`.

        A key in `written` (its size and the ETag the PUT answered, which is what a listing
        shows) is put into every kept listing that covers it; a key whose outcome is unknown (a
        failed PUT or delete) drops the listings that cover it, so the next request lists again."""
        if not self._listings:
            return
        written = written or {}
        with self._lock:
            for key in keys:
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
        if not self._listings:
            return
        with self._lock:
            self._fps.pop(key, None)
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
                self._bodies[key] = (hashlib.md5(body, usedforsecurity=False).hexdigest(), body)
                self._body_bytes += len(body)
            while self._body_bytes > BODY_CACHE_BYTES:
                _, (_, gone) = self._bodies.popitem(last=False)
                self._body_bytes -= len(gone)

    def _recall(self, key: str) -> bytes | None:
        if not self._bodies:
            return None
        with self._lock:
            hit = self._bodies.get(key)
            if hit is None or self._fps.get(key) != hit[0]:
                return None
            self._bodies.move_to_end(key)
            return hit[1]
