"""Warehouse DDL (SPEC §7, §8): every table in one place so all layers agree on columns."""

from __future__ import annotations

import duckdb

DDL = [
    # One row per ticker-minute. source_key = the lake object the row came from, so a changed
    # object replaces exactly its own rows.
    """CREATE TABLE IF NOT EXISTS footprint_1m (
        ticker VARCHAR NOT NULL, date DATE NOT NULL, time_key BIGINT NOT NULL,
        open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL, close INTEGER NOT NULL,
        vol BIGINT NOT NULL, delta BIGINT NOT NULL, buy_vol BIGINT NOT NULL, sell_vol BIGINT NOT NULL,
        source_key VARCHAR NOT NULL,
        PRIMARY KEY (ticker, time_key))""",
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
    """CREATE TABLE IF NOT EXISTS ingest_runs (
        run_id VARCHAR, layer VARCHAR, date DATE, started_at TIMESTAMP, finished_at TIMESTAMP,
        objects_read INTEGER, rows_written BIGINT, quarantined INTEGER, metadata_json VARCHAR)""",
]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)
