"""DuckDB connections that respect the one-writer rule (SPEC §7).

DuckDB lets one process hold a file for writing; any other process — even a read-only one —
fails to open it while that lock is held. Writers are serialised by one Dagster pool; readers
(API, CLI) retry briefly here and then raise `WarehouseBusy`, which callers turn into a
fallback (lake or last summary file) instead of a crash.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


class WarehouseBusy(RuntimeError):
    """The warehouse file is locked by a writer (retryable)."""


class WarehouseMissing(RuntimeError):
    """The warehouse file does not exist yet (nothing materialized)."""


# "different configuration": this process already holds the file read-write (e.g. an in-process
# run) and DuckDB refuses a read-only handle until that connection closes — also retryable.
_LOCK_MARKERS = (
    "lock",
    "Conflicting lock",
    "being used by another process",
    "Could not set lock",
    "different configuration",
)


def _is_lock_error(exc: BaseException) -> bool:
    return any(m.lower() in str(exc).lower() for m in _LOCK_MARKERS)


def connect(
    path: str, *, read_only: bool = False, retries: int = 20, wait_s: float = 0.05
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, retrying while another process holds the write lock.

    Readers use read_only=True; a missing file is `WarehouseMissing` for them, never an empty
    new file created as a side effect of a read.
    """
    if read_only and not os.path.exists(path):
        raise WarehouseMissing(f"warehouse {path} does not exist yet")
    if not read_only:
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    delay = wait_s
    for attempt in range(retries + 1):
        try:
            return duckdb.connect(path, read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or attempt == retries:
                if _is_lock_error(exc):
                    raise WarehouseBusy(f"warehouse {path} is locked by a writer; retry shortly") from exc
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    raise AssertionError("unreachable")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one BEGIN/COMMIT/ROLLBACK of the project: a layer's write is all or nothing, so a run
    killed or failing half-way leaves the previous good state for readers and the next run."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def reading(path: str, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=True, **kw)  # type: ignore[arg-type]
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(path: str, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=False, **kw)  # type: ignore[arg-type]
    try:
        yield con
    finally:
        con.close()
