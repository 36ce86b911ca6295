"""What the lake says about an object (size and fingerprint) and the canonical bytes it stores.

Why its own module: these are shared by the lake (`storage.lake`), its local and S3 sides and
every listing; `storage.lake` re-exports them, so callers keep importing them from there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    fingerprint: str  # S3 ETag or local mtime_ns: changes whenever the object is replaced


def _fingerprint(info: Mapping[str, Any]) -> str:
    for name in ("ETag", "etag"):
        if info.get(name):
            return str(info[name]).strip('"')
    mtime: Any = info.get("mtime") or info.get("LastModified") or info.get("created")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return f"{int(float(mtime or 0) * 1e9)}:{info.get('size', 0)}"


def stat_info(key: str, st: os.stat_result) -> ObjectInfo:
    """A local file's listing info from its stat (one rule for listings and our own writes)."""
    return ObjectInfo(key, st.st_size, _fingerprint({"mtime": st.st_mtime, "size": st.st_size}))


def md5_hex(data: bytes) -> str:
    """The MD5 of `data` as S3 spells a single-PUT object's ETag (no KMS or customer key)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def dumps(obj: Any, *, indent: int | None = None) -> bytes:
    """Canonical JSON bytes: compact, key order as built, UTF-8. Same input -> same bytes."""
    if indent is None:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(obj, indent=indent, ensure_ascii=False).encode()
