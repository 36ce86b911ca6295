"""A backfill's warehouse writes: many dates into `footprint_1m` in date order (SPEC §7, issue 28).

Why several dates per transaction: on the DuckDB file a COMMIT of a date's rows (a few tens of
thousands of candles, less than one row group) writes them to the WAL and, every few dates, a
checkpoint rewrites the table's last, partly filled row groups again — measured on 60 sessions of
300 tickers, the commits were more than half of the layer's time. A transaction of many dates
appends whole row groups straight to the file and commits once. Each date is still all or
nothing (a group is a superset of the date's own transaction): a run killed or failing inside a
group leaves every date of that group as it was before the run, the dates of earlier groups
loaded, and the next run loads what is missing (the manifest has no entry for it).

A date is reported (yielded, so its checks run) only after its group committed, and its quarantine
objects are written then, as before. DuckLake keeps one transaction per date: `duck.committed`
re-runs a transaction that lost a commit race, which must stay one date's worth of work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

import duckdb

from orderflow_pipeline.layers.footprint.handover import Handed, Handover
from orderflow_pipeline.storage import keys as K
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse.backend import is_ducklake
from orderflow_pipeline.warehouse.load import (
    DEFAULT_BATCH_OBJECTS,
    ConsolidateResult,
    PreparedDate,
    Written,
    _Job,
    apply_prepared,
    finish_prepared,
    manifest_for,
    prepare_date,
    write_prepared,
)

# A group's transaction commits once it holds this many candles or dates, whichever comes first
# (~11 sessions of 300 tickers, 2-3 of the whole exchange): a kill loses a few seconds of work,
# and the open transaction's rows stay small. Measured on 60 sessions x 300 tickers (the
# warehouse step alone, 2 loaded cores): one date per transaction 73 s, 400k candles 28 s
# (peak RSS +65 MB), 1M candles 31 s (+140 MB).
GROUP_CANDLES = 400_000
GROUP_DATES = 32


def consolidate_dates(
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    dates: Sequence[date | str],
    *,
    force: bool = False,
    retention_days: int | None = None,
    tickers: Iterable[str] | None = None,
    workers: int | None = None,
    handover: Handover | None = None,
    group_candles: int = GROUP_CANDLES,
    group_dates: int = GROUP_DATES,
) -> Iterator[tuple[ConsolidateResult, PreparedDate]]:
    """`consolidate` of many dates, in date order: listing, reading and validating run in worker
    processes (one date each, a few dates ahead), the writes stay here, several dates per
    transaction on the DuckDB file (`group_candles` / `group_dates`, module doc). Yields each
    date's result, once committed, with what was prepared (its listing, for the checks).
    `handover`: the run's footprint hand-over; its files are loaded from it, not read back."""
    from orderflow_pipeline.parallel import workers_for

    ds = sorted({K.as_date(d) for d in dates})
    only = list(tickers) if tickers is not None else None
    hands = {d: handover.get(d) if handover else None for d in ds}
    jobs: Iterator[_Job] = (
        (
            lake,
            d,
            manifest_for(con, d),
            force,
            DEFAULT_BATCH_OBJECTS,
            only,
            (h.files if (h := hands[d]) else {}),
        )
        for d in ds
    )
    grouped = not is_ducklake(con)
    with backfill_settings(con):
        n = workers_for(lake.is_s3) if workers is None else workers
        group = _Group(lake, con, handover)
        try:
            for p in _prepared(jobs, n):
                d = K.as_date(p.res.date)
                if not grouped or len(p.batches) > 1:
                    # DuckLake, or a date too big for one batch: its own transactions, as before
                    yield from group.commit()
                    res = apply_prepared(lake, con, p, retention_days=retention_days, handed=hands[d])
                    group.forget(d)
                    yield res, p
                    continue
                group.add(p, retention_days, hands[d])
                if group.candles >= group_candles or len(group.dates) >= group_dates:
                    yield from group.commit()
            yield from group.commit()
        finally:
            group.rollback()


class _Group:
    """The dates written in the open transaction, reported once it commits."""

    def __init__(self, lake: Lake, con: duckdb.DuckDBPyConnection, handover: Handover | None) -> None:
        self.lake, self.con, self.handover = lake, con, handover
        self.dates: list[tuple[PreparedDate, Written, float]] = []
        self.candles = 0
        self._open = False

    def add(self, p: PreparedDate, retention_days: int | None, handed: Handed | None) -> None:
        started = time.perf_counter()
        if not self._open:
            self.con.execute("BEGIN TRANSACTION")
            self._open = True
        written = write_prepared(
            self.con,
            p,
            retention_days=retention_days,
            handed=handed,
            own_transactions=False,
        )
        p.batches = []  # inserted: the group holds only what the report and the checks need
        self.dates.append((p, written, started))
        self.candles += p.res.rows

    def commit(self) -> Iterator[tuple[ConsolidateResult, PreparedDate]]:
        if self._open:
            self.con.execute("COMMIT")
            self._open = False
        done, self.dates, self.candles = self.dates, [], 0
        # every committed date is finished (quarantine written, hand-over dropped) before the
        # first is reported: a consumer that stops at a report must not leave the rest unfinished
        finished = []
        for p, written, started in done:
            res = finish_prepared(self.lake, self.con, p, written, started)
            self.forget(K.as_date(res.date))
            finished.append((res, p))
        yield from finished

    def forget(self, d: date) -> None:
        if self.handover is not None:
            self.handover.drop(d)

    def rollback(self) -> None:
        """A failure (or a consumer gone) with dates written but not committed: undo them all."""
        if self._open:
            self._open = False
            self.dates, self.candles = [], 0
            self.con.execute("ROLLBACK")


def _prepared(jobs: Iterator[_Job], workers: int | None) -> Iterator[PreparedDate]:
    """The dates prepared, in order: here while a date reads nothing (an unchanged re-run, or its
    files all handed over: a listing each, not worth starting processes for), on the workers from
    the date after the first one that reads.

    Here, on a local lake, the next date is prepared in a thread while the caller writes this one:
    its listing (Python and stat calls) overlaps DuckDB's inserts, which release the GIL. The job
    (its manifest rows, read on the caller's connection) is made in this thread, never there."""
    from orderflow_pipeline.parallel import ordered_map

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wh-prepare") as ahead:
        job = next(jobs, None)
        nxt = _submit(ahead, job)
        while job is not None:
            p = nxt.result() if nxt is not None else prepare_date(job)
            reads = any(b.sizes for b in p.batches)  # before the yield: the writer empties batches
            job = None if reads else next(jobs, None)
            nxt = _submit(ahead, job)
            yield p
            if reads:
                break
    yield from ordered_map(prepare_date, jobs, workers=workers, in_flight=1)


def _submit(pool: ThreadPoolExecutor, job: _Job | None) -> Future[PreparedDate] | None:
    """`prepare_date(job)` in `pool` on a local lake; None (prepared when needed) otherwise: on S3
    the run's listing cache lives in this thread's process and is not shared across threads."""
    if job is None or job[0].is_s3:
        return None
    return pool.submit(prepare_date, job)


# DuckDB's buffer pool keeps every block the backfill writes cached up to its memory_limit
# (default 80% of RAM): a year's warehouse (~460 MB) made the writer's RSS grow by as much, day
# after day. Capped while a backfill writes, so memory stays flat as days grow; blocks beyond it
# are evicted (they are on disk), a date's inserts need a few MB.
BACKFILL_MEMORY_LIMIT = "256MB"
# One DuckDB thread while a backfill writes: a date's inserts (tens of thousands of rows, less
# than a row group) gain nothing from a second thread but its synchronisation. Measured on 60
# sessions x 300 tickers (2 cores): the layer's CPU 9.3 s -> 5.9 s and its wall time 21 s -> 14 s;
# the other core is the workers' (or the next date's preparation).
BACKFILL_THREADS = 1


@contextmanager
def backfill_settings(
    con: duckdb.DuckDBPyConnection, limit: str = BACKFILL_MEMORY_LIMIT, threads: int = BACKFILL_THREADS
) -> Iterator[None]:
    """Cap DuckDB's memory_limit and threads for the block, then restore the previous values.

    The settings read back rounded ("18.8 GiB") or machine-made (threads = cores), so a default
    is restored with RESET rather than by setting the text read; only a value someone configured
    is set back as read."""
    names = {"memory_limit": f"'{limit}'", "threads": str(threads)}
    scratch = duckdb.connect()  # an in-memory database: the defaults, whatever the machine
    before, default = {}, {}
    for name in names:
        query = f"SELECT current_setting('{name}')"
        row, default_row = con.execute(query).fetchone(), scratch.execute(query).fetchone()
        before[name] = str(row[0]) if row else None
        default[name] = str(default_row[0]) if default_row else None
    scratch.close()
    for name, value in names.items():
        con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        for name in names:
            was = before[name]
            if was is None or was == default[name]:
                con.execute(f"RESET {name}")
            else:
                con.execute(f"SET {name} = '{was}'" if name == "memory_limit" else f"SET {name} = {was}")
