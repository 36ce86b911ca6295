"""The local lake of one Dagster run: each date's footprint listing made once, not per layer.

Why: a local listing of a date's footprint files is a directory read per ticker and UTC day
plus a stat per file (2,468 folders and ~6,300 files on a full-market day, ~0.14 s), and one
run asked for it eight times — the footprint build and its checks, the warehouse, the summary,
four times in the smart-money checks — about 1 s of an unchanged re-run. (On S3 the run cache,
`storage.run_cache.RunCachedLake`, already keeps listings for the run.)

What keeps it exact: this lake's own writes and deletes under `footprint/` (the only way the
pipeline changes those files) are applied to the kept listing of their date — a written file
enters with the size and fingerprint its write returned, which is what a listing would show
(`objects.stat_info`, the rename keeps size and mtime) — so the footprint checks after the build
list nothing again (issue 28). A write that fails, or whose store does not say what it wrote,
drops every kept listing instead. A listing that raced with a write (another thread of the run)
is not kept. Files changed by other
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

from orderflow_pipeline.storage import keys as K
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

    def _apply(self, changes: Mapping[str, ObjectInfo | None], deleted: bool = False) -> None:
        """Bring the kept listings up to date with this lake's finished writes (`changes`: key ->
        what the write returned) or deletes; anything it cannot place drops them all."""
        mine = {k: v for k, v in changes.items() if k.lstrip("/").startswith(FOOTPRINT_PREFIX)}
        if not mine:
            return
        by_date: dict[date, dict[str, ObjectInfo | None]] = {}
        try:
            for k, info in mine.items():
                if info is None and not deleted:
                    raise ValueError(f"no listing info for {k}")
                by_date.setdefault(K.trade_date_of_footprint_key(k), {})[k] = info
        except ValueError:
            self.forget_listings()
            return
        with self._memo_lock:
            self._generation += 1  # a listing made while these writes ran is not kept
            for d, entries in by_date.items():
                if (kept := self._memo.get(d)) is None:
                    continue
                merged = dict(kept)
                for k, info in entries.items():
                    if info is None:  # a delete (a write without info never gets here)
                        merged.pop(k, None)
                    else:
                        merged[k] = info
                self._memo[d] = dict(sorted(merged.items()))  # a listing's order: by key

    # -- writes keep the listings true ---------------------------------------------------------
    def write_bytes(
        self, key: str, data: bytes | Iterable[bytes], *, durable: bool = True
    ) -> ObjectInfo | None:
        try:
            info = super().write_bytes(key, data, durable=durable)
        except BaseException:
            self._forget((key,))
            raise
        self._apply({key: info})
        return info

    def write_many(self, items: Mapping[str, bytes], max_workers: int = 4) -> dict[str, ObjectInfo]:
        try:
            written = super().write_many(items, max_workers)
        except BaseException:
            self._forget(items)
            raise
        self._apply({k: written.get(k) for k in items})
        return written

    def delete(self, key: str) -> None:
        try:
            super().delete(key)
        except BaseException:
            self._forget((key,))
            raise
        self._apply({key: None}, deleted=True)

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
