"""Warehouse connections and the one transaction helper (SPEC §7).

Two backends open here (warehouse_backend.py): the DuckDB file and DuckLake.

DuckDB file: one process holds the file for writing; any other process — even a read-only one —
fails to open it while that lock is held. Writers are serialised by one Dagster pool; readers
(API, CLI) retry briefly here and then raise `WarehouseBusy`, which callers turn into a
fallback (lake or last summary file) instead of a crash.

DuckLake: no file lock — writers on several machines commit optimistically and a logical
conflict (two transactions deleting from the same data file) fails the COMMIT; `committed`
re-runs the layer's transaction body against the new snapshot, a bounded number of times.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import duckdb

from orderflow_pipeline.warehouse.backend import Target as Target
from orderflow_pipeline.warehouse.backend import is_ducklake, open_ducklake, parse_target

log = logging.getLogger(__name__)
T = TypeVar("T")

# A layer transaction that lost a DuckLake commit race is re-run up to this many times, waiting
# CONFLICT_WAIT_S x 2^n (+ a per-process offset so two losers do not collide again in step).
CONFLICT_RETRIES = 8
CONFLICT_WAIT_S = 0.2
# The row every serialised writer deletes and re-inserts (see `committed(lock=...)`).
LOCK_TABLE = "warehouse_locks"


class WarehouseBusy(RuntimeError):
    """The warehouse file is locked by a writer (retryable)."""


class WarehouseMissing(RuntimeError):
    """The warehouse does not exist yet (nothing materialized)."""


# "different configuration": this process already holds the file read-write (e.g. an in-process
# run) and DuckDB refuses a read-only handle until that connection closes — also retryable.
_LOCK_MARKERS = (
    "lock",
    "Conflicting lock",
    "being used by another process",
    "Could not set lock",
    "different configuration",
)
# DuckLake's COMMIT after it gave up resolving a race (its own retries cover the races without
# a logical conflict); both texts are DuckLake 0.3/1.5's.
_CONFLICT_MARKERS = ("transaction conflict", "failed to commit ducklake transaction")


def _is_lock_error(exc: BaseException) -> bool:
    return any(m.lower() in str(exc).lower() for m in _LOCK_MARKERS)


def is_conflict(exc: BaseException) -> bool:
    """A DuckLake commit that lost to a concurrent writer's conflicting change (retryable)."""
    return isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _CONFLICT_MARKERS)


def connect(
    target: str | Target, *, read_only: bool = False, retries: int = 20, wait_s: float = 0.05
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse `target` (a Target, `duckdb:<path>`, `ducklake:<dsn>` or a bare file
    path), retrying while another process holds the DuckDB file's write lock.

    Readers use read_only=True; a missing file or DuckLake catalog is `WarehouseMissing` for them,
    never an empty new warehouse created as a side effect of a read."""
    t = parse_target(target)
    if t.is_lake:
        return _connect_lake(t, read_only=read_only, retries=retries, wait_s=wait_s)
    path = t.location
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


def _connect_lake(t: Target, *, read_only: bool, retries: int, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Attach the DuckLake catalog. Two writers creating a new catalog at once race on its
    metadata tables in Postgres: the loser's ATTACH fails once and succeeds on the retry. A reader
    that still cannot attach (catalog unreachable) gets WarehouseBusy, so it falls back to the lake
    or the last summary like a reader of a locked file; a writer gets the error."""
    delay = wait_s
    attempts = min(retries, 5)
    for attempt in range(attempts + 1):
        try:
            return open_ducklake(t, read_only=read_only)
        except duckdb.InvalidInputException as exc:
            if read_only and "does not exist" in str(exc):
                raise WarehouseMissing(f"warehouse {t} does not exist yet") from exc
            if attempt == attempts:
                raise
        except duckdb.Error as exc:
            if attempt == attempts:
                if read_only:
                    raise WarehouseBusy(f"warehouse {t} cannot be attached: {exc}") from exc
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
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


def committed(con: duckdb.DuckDBPyConnection, body: Callable[[], T], *, lock: str | None = None) -> T:
    """Run `body` in one transaction; on DuckLake, re-run it when the COMMIT lost to a concurrent
    writer (`is_conflict`), up to CONFLICT_RETRIES times with backoff, each retry logged.

    `body` must be re-runnable (it reads the current state inside the transaction and replaces
    rows by key: DELETE + INSERT). `lock`: tables whose rows are keyed across dates (broker_daily,
    universe) can be upserted by two runs at once with nothing to delete on either side — DuckLake
    then sees two compatible appends and keeps both copies. Such a body names a lock; the
    transaction deletes and re-inserts that lock's row in `warehouse_locks`, so two of them always
    conflict and the loser re-runs, seeing the winner's rows. A DuckDB file has one writer and
    never conflicts and takes no lock."""
    lock = lock if lock is not None and is_ducklake(con) else None
    delay = CONFLICT_WAIT_S * (1 + (os.getpid() % 7) / 7)
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            with transaction(con):
                if lock is not None:
                    con.execute(f"DELETE FROM {LOCK_TABLE} WHERE name = ?", [lock])
                    con.execute(f"INSERT INTO {LOCK_TABLE} (name) VALUES (?)", [lock])
                return body()
        except duckdb.Error as exc:
            if not is_conflict(exc) or attempt == CONFLICT_RETRIES:
                raise
            log.warning(
                "warehouse: transaction conflict with a concurrent writer (try %d of %d), "
                "retrying in %.2fs: %s",
                attempt + 1,
                CONFLICT_RETRIES + 1,
                delay,
                str(exc).splitlines()[-1][:200],
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@contextmanager
def reading(target: str | Target, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(target, read_only=True, **kw)  # type: ignore[arg-type]
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(target: str | Target, **kw: object) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(target, read_only=False, **kw)  # type: ignore[arg-type]
    try:
        yield con
    finally:
        con.close()
