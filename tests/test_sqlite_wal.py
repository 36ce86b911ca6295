"""The CLI's local Dagster instance without an fsync per event (`assets/runtime/sqlite_wal.py`,
issue 28): the instance's SQLite files get synchronous=NORMAL and a held connection, so closing
Dagster's per-event connection does not checkpoint (its WAL file stays); Dagster's SQLite storages
get one engine per instance file (its compiled statements kept); files outside DAGSTER_HOME are
left as SQLite has them; a run's events and records read back as before."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from assets.runtime import sqlite_wal


@pytest.fixture
def hooked() -> Iterator[None]:
    """The hook for this test only (the module keeps its own idempotence flag)."""
    sqlite_wal.install()
    try:
        yield
    finally:
        sqlite_wal.uninstall()


def _write_once(path: Path) -> int:
    """What Dagster's event log does per event: a fresh engine, one insert, close; returns the
    synchronous level the connection had."""
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text("PRAGMA journal_mode=WAL"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        conn.commit()
        level = int(conn.execute(text("PRAGMA synchronous")).scalar_one())
    engine.dispose()
    return level


def test_instance_files_commit_without_a_checkpoint_per_close(
    hooked: None, env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["DAGSTER_HOME"])
    db = home / "history" / "x.db"
    db.parent.mkdir(parents=True)
    assert _write_once(db) == 1  # NORMAL
    assert _write_once(db) == 1
    # the held connection keeps the WAL open: Dagster's close did not checkpoint and delete it
    assert Path(f"{db}-wal").exists()
    assert str(db.resolve()) in sqlite_wal.held_files()
    sqlite_wal.release()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)

    outside = tmp_path / "other.db"
    assert _write_once(outside) == 2  # FULL, SQLite's default: not the instance's file
    assert not Path(f"{outside}-wal").exists()
    assert str(outside.resolve()) not in sqlite_wal.held_files()


def test_a_run_on_the_hooked_instance_reads_back(hooked: None, env: dict[str, str]) -> None:
    @asset
    def one() -> int:
        return 1

    with DagsterInstance.get() as instance:
        result = materialize([one], instance=instance)
        assert result.success
        assert sqlite_wal.held_files()  # the run's shard, the index, the runs db
        sqlite_wal.release()
        record = instance.get_run_record_by_id(result.run_id)
        assert record is not None and record.dagster_run.is_success
        assert instance.get_latest_materialization_event(one.key) is not None


def test_storages_keep_one_engine_per_instance_file(
    hooked: None, env: dict[str, str], tmp_path: Path
) -> None:
    from dagster._core.storage.event_log.sqlite import sqlite_event_log
    from dagster._core.storage.runs.sqlite import sqlite_run_storage

    make = sqlite_event_log.create_engine
    assert hasattr(make, sqlite_wal.ORIGINAL)  # the hook's, not SQLAlchemy's
    inside = f"sqlite:///{Path(env['DAGSTER_HOME']) / 'history' / 'runs' / 'r.db'}"
    first = make(inside, poolclass=NullPool, connect_args={"timeout": 5})
    assert make(inside, poolclass=NullPool, connect_args={"timeout": 5}) is first
    assert make(inside, poolclass=NullPool) is not first  # other options: another engine
    outside = f"sqlite:///{tmp_path / 'other.db'}"
    assert make(outside, poolclass=NullPool) is not make(outside, poolclass=NullPool)

    @asset
    def two() -> int:
        return 2

    with DagsterInstance.get() as instance:
        for _ in range(3):
            assert materialize([two], instance=instance).success
        assert len(instance.fetch_materializations(two.key, limit=10).records) == 3
    sqlite_wal.uninstall()
    assert not hasattr(sqlite_event_log.create_engine, sqlite_wal.ORIGINAL)
    assert not hasattr(sqlite_run_storage.create_engine, sqlite_wal.ORIGINAL)
