"""Warehouse DDL (SPEC §7, §8): every table in one place so all layers agree on columns.

The same DDL serves both backends (warehouse_backend.py). DuckLake has no PRIMARY KEY/UNIQUE
constraints, so `ddl(lake=True)` drops them; the DuckDB file keeps its keys — a free guard on a
file with one writer, and files made before issue 20 have them anyway (DuckDB cannot drop a
constraint). Uniqueness on DuckLake rests on the writers: every keyed write is DELETE + INSERT in
one `duck.committed` transaction, serialised by a lock row where the keys span dates.
"""

from __future__ import annotations

import re

import duckdb

from orderflow_pipeline.warehouse import duck
from orderflow_pipeline.warehouse.backend import is_ducklake

DDL = [
    # One row per ticker-minute. source_key = the lake object the row came from, so a changed
    # object replaces exactly its own rows. (ticker, time_key) is unique by construction
    # (warehouse.load.consolidate) and verified by the warehouse_unique_minutes check, not by a
    # PRIMARY KEY: the ART index made a day's bulk insert ~2x and a reload ~4x slower and
    # grows in memory with every day kept.
    """CREATE TABLE IF NOT EXISTS footprint_1m (
        ticker VARCHAR NOT NULL, date DATE NOT NULL, time_key BIGINT NOT NULL,
        open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL,
        vol BIGINT NOT NULL, delta BIGINT NOT NULL, buy_vol BIGINT NOT NULL, sell_vol BIGINT NOT NULL,
        source_key VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS footprint_levels (
        ticker VARCHAR NOT NULL, date DATE NOT NULL, time_key BIGINT NOT NULL,
        price INTEGER NOT NULL, bv BIGINT NOT NULL, av BIGINT NOT NULL, source_key VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ingest_manifest (
        key VARCHAR PRIMARY KEY, size BIGINT, etag_or_mtime VARCHAR, date DATE, ticker VARCHAR,
        hour INTEGER, rows INTEGER, quarantined INTEGER, loaded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS daily_features (
        date DATE NOT NULL, ticker VARCHAR NOT NULL, state VARCHAR NOT NULL, score DOUBLE,
        z_effort DOUBLE, z_result DOUBLE, z_ngr DOUBLE, z_elas DOUBLE, metrics_json VARCHAR,
        created_at TIMESTAMP, PRIMARY KEY (date, ticker))""",
    # Parsed broker summaries (smart_money.py): one row per ticker-date object; traded=false is a
    # non-trading day ("0"/empty value) kept so it is not re-read. fingerprint + categories (digest
    # of the broker-category table) decide whether an object must be parsed again.
    """CREATE TABLE IF NOT EXISTS broker_daily (
        ticker VARCHAR NOT NULL, date DATE NOT NULL, traded BOOLEAN NOT NULL,
        value DOUBLE, vwap DOUBLE, volume DOUBLE, sm_buy DOUBLE, sm_sell DOUBLE, sm_net DOUBLE,
        brokers INTEGER, source_key VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
        categories VARCHAR NOT NULL, parsed_at TIMESTAMP,
        PRIMARY KEY (ticker, date))""",
    """CREATE TABLE IF NOT EXISTS ingest_runs (
        run_id VARCHAR, layer VARCHAR, date DATE, started_at TIMESTAMP, finished_at TIMESTAMP,
        objects_read INTEGER, rows_written BIGINT, quarantined INTEGER, metadata_json VARCHAR)""",
    # Signal outcomes (outcomes.py, issues 21, 27): what each item of D's final summary did next;
    # returns in %, null until the ticker's later session exists; the entry/exit prices (the
    # report's costs apply to them) and the entries' auto-rejection flags (ARA/ARB/null).
    """CREATE TABLE IF NOT EXISTS signal_outcomes (
        date DATE NOT NULL, ticker VARCHAR NOT NULL, sig VARCHAR NOT NULL, sc DOUBLE,
        ret_next_oc DOUBLE, ret_next_cc DOUBLE, ret_5d DOUBLE, PRIMARY KEY (date, ticker))""",
    # The ticker universe (universe.py): listed codes (the IDX snapshot) plus every ticker the lake
    # showed, with the dates it was first/last seen (footprint files or a broker summary) and last
    # traded (footprint files).
    """CREATE TABLE IF NOT EXISTS universe (
        ticker VARCHAR PRIMARY KEY, in_snapshot BOOLEAN NOT NULL, first_seen DATE, last_seen DATE,
        last_traded DATE, updated_at TIMESTAMP)""",
    # The rows `duck.committed(lock=...)` deletes and re-inserts so that two DuckLake writers of
    # cross-date keyed tables always conflict (one row per lock name, seeded by ensure_schema).
    """CREATE TABLE IF NOT EXISTS warehouse_locks (name VARCHAR NOT NULL)""",
]
# Columns added to a table after it first shipped, applied after DDL: a warehouse made before
# them keeps its rows (issue 27's prices and entry flags of signal_outcomes: a rebuild of a date
# fills them in; the report reads a null price as "no net figure").
MIGRATIONS = [
    f"ALTER TABLE signal_outcomes ADD COLUMN IF NOT EXISTS {col} {kind}"
    for col, kind in (("close_d", "BIGINT"), ("open_next", "BIGINT"), ("close_next", "BIGINT"),
                      ("close_5d", "BIGINT"), ("lim", "VARCHAR"), ("lim_next", "VARCHAR"))
]  # fmt: skip
# The lock names (duck.committed(lock=...)): one per table upserted by keys that span dates.
LOCKS = ("broker_daily", "universe")

_INLINE_PK = re.compile(r" PRIMARY KEY(?= *[,)])")
_TABLE_PK = re.compile(r",\s*PRIMARY KEY \([^)]*\)")


def ddl(*, lake: bool) -> list[str]:
    """The CREATE statements for one backend: DuckLake's without key constraints (a key column
    stays NOT NULL, which DuckLake does enforce)."""
    if not lake:
        return list(DDL)
    return [_TABLE_PK.sub("", _INLINE_PK.sub(" NOT NULL", stmt)) for stmt in DDL]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing. On DuckLake two writers creating the catalog's tables at once
    conflict at COMMIT; `duck.committed` re-runs the loser, who then finds the tables."""
    lake = is_ducklake(con)

    def create() -> None:
        for stmt in [*ddl(lake=lake), *MIGRATIONS]:
            con.execute(stmt)
        for name in LOCKS:
            con.execute(
                "INSERT INTO warehouse_locks SELECT ? WHERE NOT EXISTS "
                "(SELECT 1 FROM warehouse_locks WHERE name = ?)",
                [name, name],
            )

    duck.committed(con, create)
