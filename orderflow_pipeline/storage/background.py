"""Lake writes that run while the caller computes: `write_many_async` (issue 28).

Why: on S3 a date's few hundred hour-file PUTs are one concurrent batch (`Lake.write_many`), but
the caller still waits for the slowest answer before it computes the next date; with the date's
compute on one core and the store answering on another, the two can overlap. A caller submits
the batch here and waits for its future only where it records the writes as done (a manifest).

What stays exact: each object is written as `write_many` writes it (S3: one PUT, atomic; local:
temp file + rename), and the run cache is told exactly as after `write_many`. One writer thread
per process runs the batches in the order submitted, so a later batch's version of a key lands
last. A caller must wait for (or cancel) its futures before it ends; until then the objects may
or may not be there, exactly as during `write_many` itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from orderflow_pipeline.storage.lake import Lake, ObjectInfo

_lock = threading.Lock()
_writer: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _writer
    with _lock:
        if _writer is None:
            _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-write")
        return _writer


def write_many_async(lake: Lake, items: Mapping[str, bytes]) -> Future[dict[str, ObjectInfo]]:
    """Start `lake.write_many(items)` and return at once; the future holds its result (what a
    listing shows for each key written) or its exception. `items` is copied: the caller may
    reuse its dict."""
    return _pool().submit(lake.write_many, dict(items))
