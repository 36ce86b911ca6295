"""The local Dagster instance's SQLite files without an fsync per event (issue 28).

Why: the local instance (dagster.yaml's default storage: SQLite files under DAGSTER_HOME) stores
every event of a run — ~130 for `orderflow materialize` of one date — through a fresh SQLAlchemy
engine and connection per event (Dagster's `SqliteEventLogStorage._connect`, NullPool). Two
disk flushes per event follow from SQLite's defaults: the commit fsyncs the WAL
(`synchronous=FULL`, Python's default), and closing the file's last connection checkpoints the
WAL into the database and fsyncs that too. Measured on a full-market day's unchanged re-run on
this 2-core box with other writers on the disk: 16.7 / 18.8 s wall as Dagster opens it, 7.0 /
13.1 s with `synchronous=NORMAL` plus a held connection (below), about as fast as no flush at
all (`OFF`: 6.8 / 12.5 s); `NORMAL` alone gained nothing (the close's checkpoint still flushes).

What `install()` does, in this process only (the CLI's `materialize`/`demo`; the daemon, the
webserver and Postgres deployments are untouched): every SQLite connection SQLAlchemy opens on
a file under DAGSTER_HOME gets `PRAGMA synchronous=NORMAL`, and the process keeps one idle
connection of its own open per such file (at most `MAX_HELD`), so a Dagster connection's close is
never the file's last one and does not checkpoint. SQLite then flushes only when a checkpoint
runs (every 1,000 WAL pages, or when a held connection is let go).

Why that is safe: `NORMAL` is SQLite's documented setting for WAL databases — a crash of this
process loses nothing committed, and a power loss or OS crash can lose the last transactions but
never corrupts the file. Dagster already puts every shard in WAL mode. The held connections are
not closed at exit: that close would checkpoint each file (two flushes apiece; 1-3 s of a run's
wall on the loaded box, paired runs). The WAL stays beside its file, which is a state SQLite is
built for (any process that opens the file reads it; the next last close or the 1,000-page
auto-checkpoint folds it in); only a copy of the `.db` file alone would miss it.

Dagster has no dagster.yaml setting for SQLite pragmas (its SQLite storages take only
`base_dir`), hence the connect hook; the files, their schema and what Dagster writes are
unchanged.

`install()` also keeps one SQLAlchemy engine per instance file (`_caching`, at most
`MAX_ENGINES`): Dagster's SQLite storages call `create_engine` on every connection, and an
engine's compiled-statement cache dies with it, so every event's INSERTs were compiled afresh.
Measured on this box (300 asset events on a fresh instance, 3 interleaved pairs): 4.1-6.6 ms per
event as Dagster does it, 2.1-2.7 ms with the kept engine. The engine keeps NullPool (a fresh
SQLite connection per use, as before); only the factory and its cache persist.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# Files with a held connection (the run's shard, the index, runs and schedules db, a few spare):
# a long pytest process running many runs must not collect one open file per run it ever made.
MAX_HELD = 8
# Engines kept (the run's shard, the index, runs, schedules, a few past runs' shards).
MAX_ENGINES = 16
ORIGINAL = "_orderflow_original"  # the wrapped create_engine, on our wrapper only
# Dagster's SQLite storages, each of which names `create_engine` at module level.
_ENGINE_MODULES = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
)

_lock = threading.Lock()
_held: OrderedDict[str, sqlite3.Connection] = OrderedDict()
_installed = False
_engines: OrderedDict[tuple[str, Any, tuple[tuple[str, Any], ...]], Engine] = OrderedDict()


def install() -> None:
    """Hook SQLAlchemy's connect event (idempotent): NORMAL sync and a held connection per file."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    event.listen(Engine, "connect", _on_connect)
    import importlib

    for name in _ENGINE_MODULES:
        module = importlib.import_module(name)
        make = getattr(module, "create_engine")  # noqa: B009 - set below: mypy cannot see it
        if not hasattr(make, ORIGINAL):  # (SQLAlchemy's own create_engine has a __wrapped__)
            setattr(module, "create_engine", _caching(make))  # noqa: B010


def uninstall() -> None:
    """Undo `install` (tests): the connect hook and the engine cache go, held connections close."""
    import importlib

    global _installed
    with _lock:
        was, _installed = _installed, False
        _engines.clear()
    if was:
        event.remove(Engine, "connect", _on_connect)
    for name in _ENGINE_MODULES:
        module = importlib.import_module(name)
        make = getattr(module, "create_engine")  # noqa: B009
        setattr(module, "create_engine", getattr(make, ORIGINAL, make))  # noqa: B010
    release()


def _caching(create: Any) -> Any:
    """`create` (SQLAlchemy's create_engine) returning one engine per instance file and options."""

    def create_engine(url: Any, **kwargs: Any) -> Engine:
        if _instance_file(str(url).removeprefix("sqlite:///")) is None:
            return create(url, **kwargs)  # type: ignore[no-any-return]
        key = (str(url), kwargs.get("poolclass"), tuple(sorted(kwargs.get("connect_args", {}).items())))
        with _lock:
            engine = _engines.get(key)
            if engine is not None:
                _engines.move_to_end(key)
                return engine
        engine = create(url, **kwargs)
        with _lock:
            engine = _engines.setdefault(key, engine)
            while len(_engines) > MAX_ENGINES:
                _engines.popitem(last=False)
        return engine

    setattr(create_engine, ORIGINAL, create)  # noqa: B010
    return create_engine


def held_files() -> list[str]:
    """The database files this process keeps a connection open on (tests, diagnostics)."""
    with _lock:
        return list(_held)


def release() -> None:
    """Close every held connection (each close may checkpoint its file, as Dagster's would):
    tests, and a long process that is done with the instance."""
    with _lock:
        gone = list(_held.values())
        _held.clear()
    for con in gone:
        con.close()


def _instance_file(path: str | None) -> str | None:
    """`path` resolved, if it is a file of the instance (under DAGSTER_HOME); None otherwise."""
    home = _real_home(os.environ.get("DAGSTER_HOME"))
    real = _realpath(path) if path else None
    return real if home is not None and real is not None and real.startswith(home) else None


@functools.lru_cache(maxsize=4)
def _real_home(home: str | None) -> str | None:
    return os.path.realpath(home) + os.sep if home else None


@functools.lru_cache(maxsize=256)
def _realpath(path: str) -> str:
    """Resolved once per path string: a connection opens several times per event."""
    return os.path.realpath(path)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    path = _instance_file(row[2] if row else None)
    if path is None:
        return  # not the instance's (an in-memory db, another tool's file): left as SQLite has it
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    _hold(path)


def _hold(path: str) -> None:
    """Open (or touch) this process's idle connection on `path`. A read makes it map the WAL
    index, which is what makes Dagster's close see another user of the file; it is re-read on
    every connect because a new shard becomes WAL only after its first connection."""
    evicted: sqlite3.Connection | None = None
    with _lock:
        con = _held.get(path)
        if con is None:
            # a short timeout: a file locked by another process is touched again at the next connect
            con = sqlite3.connect(path, timeout=0.1, check_same_thread=False, isolation_level=None)
            _held[path] = con
            if len(_held) > MAX_HELD:
                _, evicted = _held.popitem(last=False)
        else:
            _held.move_to_end(path)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error:  # busy or mid-creation: the next connect touches it again
            pass
    if evicted is not None:
        evicted.close()
