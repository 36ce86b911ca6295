"""The local lake of one Dagster run: each date's footprint listing made once, not per layer.

Why: a local listing of a date's footprint files is a directory read per ticker and UTC day
plus a stat per file (2,468 folders and ~6,300 files on a full-market day, ~0.14 s), and one
run asked for it eight times — the footprint build and its checks, the warehouse, the summary,
four times in the smart-money checks — about 1 s of an unchanged re-run. (On S3 the run cache,
`storage.run_cache.RunCachedLake`, already keeps listings for the run.)

What keeps it exact: the kept listing of a date is dropped whenever this lake writes or
deletes a key under `footprint/` (the only way the pipeline changes those files), so a layer
reading after the footprint build lists afresh once and the later layers reuse that. A listing
that raced with such a write (another thread of the run) is not kept. Files changed by other
processes during the run are seen by the next run — a run works on the snapshot it listed, as
on S3. A copy sent to a worker process starts empty, and this side drops what it kept, because
the worker may write through its copy.

Lifetime: only the Dagster lake resource makes one (`run_cache.for_run`); the API, the CLI and
scripts use the plain `Lake`, which lists afresh every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from orderflow_pipeline.storage.lake import Lake, ObjectInfo

FOOTPRINT_PREFIX = "footprint/"


class RunListedLake(Lake):
    """A local `Lake` that keeps inventory's per-date footprint listings until it writes under them."""

    def __init__(self, root: str, endpoint_url: str | None = None, **storage_options: Any) -> None:
        super().__init__(root, endpoint_url, **storage_options)
        self._memo_lock = threading.Lock()
        self._memo: dict[date, dict[str, ObjectInfo]] = {}
        self._generation = 0  # bumped by every footprint write: a listing older than it is not kept
        self.listings_made = 0  # listings actually made (not served from the memo): tests, metadata

    # -- the memo inventory.footprint_objects uses --------------------------------------------
    def footprint_listing(
        self, d: date, make: Callable[[], dict[str, ObjectInfo]], *, fresh: bool = False
    ) -> dict[str, ObjectInfo]:
        """Date `d`'s kept listing (a copy), else `make()`'s, kept unless a footprint write ran
        meanwhile. `fresh` lists even when one is kept (a caller that also collects temp files)."""
        with self._memo_lock:
            kept = None if fresh else self._memo.get(d)
            if kept is not None:
                return dict(kept)
            generation = self._generation
        listed = make()
        with self._memo_lock:
            self.listings_made += 1
            if generation == self._generation:
                self._memo[d] = dict(listed)
        return listed

    def kept_footprint_listings(self, dates: Iterable[date]) -> dict[date, Mapping[str, ObjectInfo]]:
        """The listings kept for those of `dates` that have one (read-only views, not copies):
        `inventory.footprint_tickers_by_date` takes a date's tickers from it instead of reading
        the date's ~2,500 folders again (issue 28: ~0.05 s a layer on a full-market day)."""
        with self._memo_lock:
            return {d: self._memo[d] for d in dates if d in self._memo}

    def forget_listings(self) -> None:
        with self._memo_lock:
            self._memo = {}
            self._generation += 1

    def _forget(self, keys: Iterable[str]) -> None:
        if any(k.lstrip("/").startswith(FOOTPRINT_PREFIX) for k in keys):
            self.forget_listings()

    # -- writes drop what they may change ------------------------------------------------------
    def write_bytes(
        self, key: str, data: bytes | Iterable[bytes], *, durable: bool = True
    ) -> ObjectInfo | None:
        try:
            return super().write_bytes(key, data, durable=durable)
        finally:
            self._forget((key,))

    def write_many(self, items: Mapping[str, bytes], max_workers: int = 4) -> dict[str, ObjectInfo]:
        try:
            return super().write_many(items, max_workers)
        finally:
            self._forget(items)

    def delete(self, key: str) -> None:
        try:
            super().delete(key)
        finally:
            self._forget((key,))

    # -- worker processes ----------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Sent to a worker process: both copies start without kept listings (see the module)."""
        self.forget_listings()
        state = dict(self.__dict__)
        state["_memo_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._memo_lock = threading.Lock()
