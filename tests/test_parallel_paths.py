"""The multi-core paths of a backfill (issue 20) give exactly what the serial paths give.

The suite's small markets stay below the size where `build_daily_features` starts its parse
workers, and the asset tests run whatever the machine's core count allows; here each parallel
path is forced on a small simulated market and compared with the serial one, table by table.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orderflow_pipeline import idx_calendar, parallel
from orderflow_pipeline.layers import smart_money
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.smart_money import build
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import backfill, load
from orderflow_pipeline.warehouse.schema import ensure_schema

START, END = date(2026, 2, 16), date(2026, 2, 18)  # Monday..Wednesday: three trading days


def _square(x: int) -> int:
    return x * x


def test_ordered_map_keeps_input_order_over_processes() -> None:
    items = iter(range(7))  # a generator: consumed lazily, a few items ahead of the workers
    assert list(parallel.ordered_map(_square, items, workers=2, start_method="fork")) == [
        x * x for x in range(7)
    ]
    assert list(parallel.ordered_map(_square, [3], workers=2)) == [9]  # one item: in process


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("parallel") / "lake"))
    simulate_range(lake, START, END, n_tickers=8, seed=3)
    return lake


def _tables(con: duckdb.DuckDBPyConnection, *sql: str) -> list[list[tuple[object, ...]]]:
    return [con.execute(q).fetchall() for q in sql]


def test_broker_summaries_parsed_in_workers_equal_the_serial_parse(
    market: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = idx_calendar.trading_days(START, END)
    got = []
    for pool in (False, True):
        if pool:  # every sync uses the workers, in several batches
            monkeypatch.setattr(build, "POOL_MIN_OBJECTS", 0)
            monkeypatch.setattr(build, "PARSE_BATCH", 5)
        con = duckdb.connect()
        res = smart_money.build_daily_features(market, con, days)
        assert res.objects_parsed == 8 * len(days) and res.quarantined == 0
        got.append(
            _tables(
                con,
                "SELECT * EXCLUDE (parsed_at) FROM broker_daily ORDER BY ALL",
                "SELECT * EXCLUDE (created_at) FROM daily_features ORDER BY ALL",
            )
        )
        con.close()
    assert got[0] == got[1] and got[0][0]


def test_broksum_listing_once_equals_a_glob_per_date(market: Lake) -> None:
    days = idx_calendar.trading_days(START, END)
    by_date = smart_money.broksum_tickers_by_date(market, days)
    assert by_date == {d: smart_money.broksum_tickers(market, d) for d in days}
    assert all(len(t) == 8 for t in by_date.values())


def test_warehouse_prepared_in_workers_equals_serial_consolidate(market: Lake, tmp_path: Path) -> None:
    days = idx_calendar.trading_days(START, END)
    for d in days:
        footprint.build_footprint(market, d)
    got = []
    for pool in (False, True):
        con = duckdb.connect(str(tmp_path / f"wh-{pool}.duckdb"))
        ensure_schema(con)
        if pool:
            results = [r for r, _ in backfill.consolidate_dates(market, con, days, workers=2)]
        else:
            results = [load.consolidate(market, con, d) for d in days]
        metas = [{k: v for k, v in r.as_metadata().items() if k != "seconds"} for r in results]
        memory = con.execute("SELECT current_setting('memory_limit')").fetchone()
        got.append(
            (
                metas,
                *_tables(
                    con,
                    "SELECT * FROM footprint_1m ORDER BY ALL",
                    "SELECT * FROM footprint_levels ORDER BY ALL",
                    "SELECT * EXCLUDE (loaded_at) FROM ingest_manifest ORDER BY ALL",
                ),
                memory,  # the backfill's memory cap is lifted again afterwards
            )
        )
        con.close()
    assert got[0] == got[1] and got[0][1]


def test_an_unchanged_rerun_starts_no_worker_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes cost seconds to start: the warehouse's re-run with nothing new lists each
    date in this process, and the footprint's pre-check (`has_work`) says when its dates need none."""
    days = idx_calendar.trading_days(date(2026, 2, 18), date(2026, 2, 28))[:3]
    assert len(days) == 3
    market = Lake(str(tmp_path / "lake"))
    simulate_range(market, days[0], days[-1], n_tickers=4, seed=3)
    for d in days:
        footprint.build_footprint(market, d)
    assert not any(footprint.has_work(market, d) for d in days)
    assert footprint.has_work(market, days[0], force=True)
    started: list[int] = []
    real_pool = parallel.process_pool

    def counted(workers: int, start_method: str) -> Any:  # the real pool, counted
        started.append(workers)
        return real_pool(workers, start_method)

    monkeypatch.setattr(parallel, "process_pool", counted)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_schema(con)
    first = [r for r, _ in backfill.consolidate_dates(market, con, days, workers=2)]
    # the first date is read here, the other two on the workers
    assert [r.objects_read for r in first] == [r.objects_listed for r in first] and started == [2]
    again = [r for r, _ in backfill.consolidate_dates(market, con, days, workers=2)]
    assert [r.objects_read for r in again] == [0, 0, 0] and started == [2]  # no second pool
    con.close()

    tape_key = sorted(market.list(f"raw_lt/{days[1]:%Y/%m/%d}/"))[0]
    market.write_bytes(tape_key, market.read_bytes(tape_key))  # replaced: a new fingerprint
    assert [footprint.has_work(market, d) for d in days] == [False, True, False]


def test_threads_per_worker_shares_the_cores_only_when_workers_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process's DuckDB keeps to its share of the cores; an in-process map keeps them all."""
    monkeypatch.setattr(parallel, "worker_count", lambda: 4)
    assert parallel.threads_per_worker(None, 10) == 1  # one worker per core
    assert parallel.threads_per_worker(2, 10) == 2
    assert parallel.threads_per_worker(1, 10) is None  # in process (S3, an unchanged re-run)
    assert parallel.threads_per_worker(None, 1) is None  # one date: in process


def test_a_capped_footprint_build_equals_the_default_one(market: Lake, tmp_path: Path) -> None:
    """`build.connect(threads)` caps DuckDB's threads and changes no byte of the build."""
    con = footprint.connect(1)
    assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
    con.close()
    outs = []
    for n, threads in enumerate((None, 1)):
        lake = Lake(str(tmp_path / f"lake{n}"))
        for k in tape_objects(market, END):
            lake.write_bytes(k, market.read_bytes(k))
        res, _ = footprint.build_footprint_handing(lake, END, None, threads=threads)
        assert res.hour_files_written
        outs.append({k: lake.read_bytes(k) for k in lake.list("footprint/")})
    assert outs[0] == outs[1]
