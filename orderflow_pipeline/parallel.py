"""Independent per-date work on every core: an ordered, bounded map over worker processes.

A year's backfill is one Dagster run whose assets loop over their dates. The per-date compute of
a layer that writes only lake files (footprint: parse, classify, aggregate one day of tape) does
not depend on any other date, so it can run on every core; results come back in date order, so
logging, metadata and anything written by the caller (the single DuckDB writer) stay serial.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers_for(on_s3: bool) -> int | None:
    """Worker processes for a lake's per-date work: every core locally, none on S3.

    Why none on S3: there a run's cost is request latency, which s3fs already overlaps, and the
    run's listing and body cache (storage.run_cache.RunCachedLake) lives in this process — a worker
    lists and GETs again what the run already holds. Measured on moto, 5 days x 40 tickers: with
    workers a full run was 4.1x local and an unchanged re-run 3.6x; in-process 2.1x and 0.9x."""
    return 1 if on_s3 else None


def worker_count() -> int:
    """Cores this process may use (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int | None, items: int) -> int | None:
    """The cores each of `ordered_map(fn, items, workers=workers)`'s worker processes may use for
    its own threads (DuckDB's), or None when the map runs in this process (every core is its own).
    Why: with one worker per core, a thread pool per worker only oversubscribes the cores."""
    n = worker_count() if workers is None else max(1, workers)
    if n <= 1 or items <= 1:
        return None
    return max(1, worker_count() // n)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the kernel kills this worker when its parent dies (issue 29).

    Why: a kill -9 of `materialize` left both spawned workers (~218 MB each, a day's tape in
    DuckDB) running with PPID 1, and with them the multiprocessing resource tracker, which exits
    only when every holder of its pipe has. PR_SET_PDEATHSIG (Linux) sends SIGKILL when the
    thread that started the worker ends; `process_pool`'s callers start the pool in the
    thread that uses it, which outlives the pool. SIGKILL, not SIGTERM: a worker writes only through
    atomic temp + rename, so nothing it leaves is torn. The ppid check closes the race of a
    parent that died before the signal was armed (the worker is then already an orphan)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


def process_pool(workers: int, start_method: str) -> ProcessPoolExecutor:
    """The one way the core starts worker processes: workers that die with their parent."""
    ctx = multiprocessing.get_context(start_method)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
    )


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    start_method: str = "spawn",
    in_flight: int = 2,
) -> Iterator[R]:
    """`map(fn, items)` over `workers` processes (default: one per core), yielding in input order.

    At most `in_flight` items per worker are submitted ahead of the one being yielded, so memory
    is bounded by the workers' current items whatever the number of items (a year's 237 days
    never sit in memory at once). With one worker, or one item, it runs in this process: no
    process is started for the 5-minute schedule's single date. `fn` must be a module-level
    function (spawn pickles it by name). An exception of `fn` is raised here, on its item.
    The workers die with this process, however it dies (`_die_with_parent`).
    """
    it = iter(items)  # consumed lazily: an item is made only when a worker is about to need it
    head = list(islice(it, 2))
    n = worker_count() if workers is None else max(1, workers)
    if n <= 1 or len(head) <= 1:
        yield from map(fn, chain(head, it))
        return
    with process_pool(n, start_method) as pool:
        pending: list[Future[R]] = []
        for item in chain(head, it):
            pending.append(pool.submit(fn, item))
            while len(pending) > in_flight * n:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
