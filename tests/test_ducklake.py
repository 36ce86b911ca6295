"""The DuckLake warehouse backend (issue 20, SPEC §7) against a real PostgreSQL catalog: the schema
without key constraints, the keyed writes (DELETE + INSERT) giving the same rows as on the DuckDB
file, a concurrent writer's conflict retried instead of duplicating rows, and readers of a catalog
that does not exist yet falling back like readers of a missing file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pgserver import PgServer

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers import universe
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.layers.smart_money.store import BROKER_DAILY_COLUMNS, replace_broker_days
from orderflow_pipeline.read.fallback import resolve_from
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.backend import Target, parse_target
from orderflow_pipeline.warehouse.schema import DDL, ensure_schema

DAYS = idx_calendar.trading_days("2026-02-02", "2026-02-04")
PARSED = datetime(2026, 2, 5, 9, 0)


def _lake_target(pg: PgServer, tmp_path: Path) -> Target:
    return parse_target(f"ducklake:{pg.dsn(pg.create_database('dl'))}", data=str(tmp_path / "wh-data"))


@pytest.fixture
def backends(postgres_server: PgServer, tmp_path: Path) -> Iterator[dict[str, duckdb.DuckDBPyConnection]]:
    """The same empty schema on both backends: {"duckdb": file connection, "ducklake": catalog}."""
    cons = {
        "duckdb": duck.connect(f"duckdb:{tmp_path / 'w.duckdb'}"),
        "ducklake": duck.connect(_lake_target(postgres_server, tmp_path)),
    }
    for con in cons.values():
        ensure_schema(con)
    yield cons
    for con in cons.values():
        con.close()


def _bd_row(ticker: str, d: date, value: float, fingerprint: str = "f1") -> list[Any]:
    # value, vwap, volume, sm_buy, sm_sell, sm_net = buy - sell, brokers
    return [ticker, d, True, value, 100.0, value / 100, 60.0, 40.0, 20.0, 3, f"raw-broksum/{ticker}/{d}.json",
            fingerprint, "cat0", PARSED]  # fmt: skip


def _rows(con: duckdb.DuckDBPyConnection, table: str, exclude: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] not in exclude]
    return con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()


def test_schema_on_ducklake_has_every_table_and_no_keys(
    backends: dict[str, duckdb.DuckDBPyConnection],
) -> None:
    lake, file = backends["ducklake"], backends["duckdb"]
    tables = {r[0] for r in lake.execute("SHOW TABLES").fetchall()}
    assert tables == {r[0] for r in file.execute("SHOW TABLES").fetchall()}
    assert len(tables) == len(DDL)
    for t in tables:  # same columns and types on both
        cols = f'SELECT column_name, column_type, "null" FROM (DESCRIBE {t})'
        assert lake.execute(cols).fetchall() == file.execute(cols).fetchall(), t
    keys = "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND database_name = ?"
    assert lake.execute(keys, ["wh"]).fetchone() == (0,)
    assert file.execute(keys, ["w"]).fetchone() == (5,)  # the file keeps its keys (schema.py)
    ensure_schema(lake)  # idempotent: the lock rows are seeded once
    assert lake.execute("SELECT name, count(*) FROM warehouse_locks GROUP BY ALL ORDER BY 1").fetchall() == [
        ("broker_daily", 1),
        ("universe", 1),
    ]


def test_keyed_writes_give_the_same_rows_on_both_backends(
    backends: dict[str, duckdb.DuckDBPyConnection], tmp_path: Path
) -> None:
    lk = Lake(str(tmp_path / "lake"))
    simulate_range(lk, DAYS[0], DAYS[-1], n_tickers=4, seed=5)
    for d in DAYS:
        build_footprint(lk, d)
    d1, d2 = DAYS[0], DAYS[1]
    for con in backends.values():
        # broker_daily: insert, then replace one row and drop another (INSERT OR REPLACE before)
        replace_broker_days(con, [], [_bd_row("AAAA", d1, 1e9), _bd_row("BBBB", d1, 2e9)])
        replace_broker_days(con, [("BBBB", d1)], [_bd_row("AAAA", d1, 3e9, "f2"), _bd_row("AAAA", d2, 4e9)])
        # universe: day 2 before day 1 and again (ON CONFLICT before): order-free and idempotent
        for days in ([DAYS[1]], [DAYS[0]], DAYS, DAYS):
            universe.update_universe(lk, con, days)
    file, lake = backends["duckdb"], backends["ducklake"]
    bd = _rows(lake, "broker_daily")
    assert bd == _rows(file, "broker_daily")
    assert [(r[0], r[1], r[3], r[11]) for r in bd] == [("AAAA", d1, 3e9, "f2"), ("AAAA", d2, 4e9, "f1")]
    assert len(BROKER_DAILY_COLUMNS) == len(bd[0])
    uni = _rows(lake, "universe", exclude=("updated_at",))
    assert uni == _rows(file, "universe", exclude=("updated_at",))
    assert lake.execute("SELECT count(*) = count(DISTINCT ticker) FROM universe").fetchone() == (True,)


def test_a_conflicting_concurrent_upsert_is_retried_not_duplicated(
    postgres_server: PgServer, tmp_path: Path
) -> None:
    """Two writers upsert the same broker day: nothing to delete on either side, so without the
    lock row DuckLake would accept both appends. The second commit conflicts and its body re-runs
    against the new snapshot (it deletes the winner's row, then inserts its own)."""
    target = _lake_target(postgres_server, tmp_path)
    first, second = duck.connect(target), duck.connect(target)
    ensure_schema(first)
    d = DAYS[0]
    tries = 0

    def body() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:  # the other machine commits the same key while this transaction is open
            replace_broker_days(first, [], [_bd_row("AAAA", d, 1e9)])
        second.execute("DELETE FROM broker_daily WHERE ticker = 'AAAA' AND date = ?", [d])
        second.execute("INSERT INTO broker_daily VALUES (" + ", ".join("?" * len(BROKER_DAILY_COLUMNS)) + ")",
                       _bd_row("AAAA", d, 2e9))  # fmt: skip

    duck.committed(second, body, lock="broker_daily")
    assert tries == 2
    assert first.execute("SELECT value FROM broker_daily").fetchall() == [(2e9,)]
    first.close()
    second.close()


def test_readers_of_a_missing_catalog_fall_back(postgres_server: PgServer, tmp_path: Path) -> None:
    target = _lake_target(postgres_server, tmp_path)
    with pytest.raises(duck.WarehouseMissing):
        duck.connect(target, read_only=True)
    lk = Lake(str(tmp_path / "lake"))
    doc = resolve_from(lk, target, now=datetime.fromisoformat("2026-02-04T03:00:00+00:00")).doc
    assert doc["status"] == "NO_DATA"  # the lake is empty too: L2, not a crash
    with duck.writing(target) as con:
        ensure_schema(con)
    with duck.reading(str(target)) as con:  # the target string alone: the catalog knows its data path
        assert con.execute("SELECT count(*) FROM footprint_1m").fetchone() == (0,)
        with pytest.raises(duckdb.Error):
            con.execute("DELETE FROM footprint_1m")


def test_a_reader_of_an_unreachable_catalog_is_told_busy_not_crashed() -> None:
    """Postgres down (nothing listens on port 1): readers fall back as from a locked file."""
    with pytest.raises(duck.WarehouseBusy, match="cannot be attached"):
        duck.connect("ducklake:dbname=wh host=127.0.0.1 port=1 user=postgres", read_only=True, retries=1)
