"""The summary body cache: a few seconds of reuse, ETag / If-None-Match → 304, gzip once.

The dashboard and its many viewers poll the same document every minute, so a resolved summary is
kept as ready-to-send bytes (JSON and gzip) for `ttl` seconds; after that an unchanged L0 object
(same fingerprint) only extends the entry. While a writer holds the warehouse and the chain could
only answer NO_DATA, the last good body is served again (marked stale) — a busy warehouse must not
blank a trader's screen.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from orderflow_pipeline.read.fallback import Resolved

MAX_CACHED_DATES = 16  # summary bodies kept in memory (newest + dates asked with ?date=)


@dataclass
class CachedBody:
    body: bytes
    gz: bytes
    etag: str
    status: str
    l0_fingerprint: str | None
    expires: float


def encode_body(doc: Mapping[str, Any], l0_fingerprint: str | None, ttl: float) -> CachedBody:
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    return CachedBody(body, gzip.compress(body, 6, mtime=0), etag, str(doc.get("status")), l0_fingerprint,
                      time.monotonic() + ttl)  # fmt: skip


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def body_response(entry: CachedBody, request: Request, extra: dict[str, str] | None = None) -> Response:
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding", **(extra or {})}
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            entry.gz, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(entry.body, media_type="application/json", headers=headers)


class SummaryCache:
    """Resolved summary bodies per asked date ("" = newest).

    `resolve(d)` walks the fallback chain (blocking; run in a thread); `l0_fingerprint()` is the
    fingerprint of the L0 object (None when absent).
    """

    def __init__(
        self, resolve: Callable[[date | None], Resolved], l0_fingerprint: Callable[[], str | None], ttl: float
    ) -> None:
        self._resolve = resolve
        self._l0_fingerprint = l0_fingerprint
        self.ttl = ttl
        self.entries: dict[str, CachedBody] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    def _encode(self, d: date | None) -> tuple[CachedBody, bool]:
        fp = self._l0_fingerprint() if d is None else None
        res = self._resolve(d)
        return encode_body(res.doc, fp, self.ttl), res.warehouse_busy

    async def get(self, d: date | None) -> tuple[CachedBody, bool]:
        """(body, stale). Within the TTL the body is reused as is; after it, an unchanged L0
        object (same fingerprint) only extends the TTL; anything else is resolved again.
        With ttl <= 0 (tests, the bench baseline) every request walks the chain, unserialised."""
        key = d.isoformat() if d else ""
        if self.ttl <= 0:
            return self._settle(key, self.entries.get(key), *await run_in_threadpool(self._encode, d))
        entry = self.entries.get(key)
        if entry and entry.expires > time.monotonic():
            return entry, False
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self.entries.get(key)
            now = time.monotonic()
            if entry and entry.expires > now:
                return entry, False
            if entry and d is None and entry.status == "OK" and entry.l0_fingerprint:
                fp = await run_in_threadpool(self._l0_fingerprint)
                if fp == entry.l0_fingerprint:
                    entry.expires = now + self.ttl
                    return entry, False
            return self._settle(key, entry, *await run_in_threadpool(self._encode, d))

    def _settle(
        self, key: str, last: CachedBody | None, fresh: CachedBody, busy: bool
    ) -> tuple[CachedBody, bool]:
        if busy and fresh.status == "NO_DATA" and last is not None and last.status != "NO_DATA":
            # A writer holds the warehouse and nothing else answered: the last good body beats a
            # blank screen (the route adds X-Stale: 1).
            return last, True
        self.entries[key] = fresh
        if len(self.entries) > MAX_CACHED_DATES:  # ?date= is client-chosen: keep memory bounded
            oldest = min((k for k in self.entries if k != key), key=lambda k: self.entries[k].expires)
            del self.entries[oldest]
            self.locks.pop(oldest, None)
        return fresh, False
