"""`orderflow` console script: the core commands plus the ones that run Dagster.

The core CLI (`orderflow_pipeline/cli.py`: simulate, summary, serve, check) runs no Dagster;
this module adds `materialize`, `demo` and `runs` on top of its parser, so the core never imports
the glue. `[project.scripts] orderflow = "assets.cli:run"`; `python -m assets.cli ...` is the same.

The README's default DAGSTER_HOME (`./.dagster`, config.DEFAULT_DAGSTER_HOME) holds outside `make`
too: before a command touches the instance, `dagster_home` creates the folder and copies the
repo's dagster.yaml into it exactly as the Makefile's `$(DAGSTER_HOME)/dagster.yaml` target does
(its pools are what keeps two DuckDB writers apart), and exports the absolute path, which Dagster
requires and the run's worker processes inherit.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from orderflow_pipeline import cli as core_cli
from orderflow_pipeline.config import Settings, get_settings

# The local instance's config, at the repo root next to the code location (the Makefile copies it).
INSTANCE_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME (settings' value, default ./.dagster) created, with a dagster.yaml, exported."""
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        if not INSTANCE_YAML.is_file():
            raise core_cli.UsageError(
                f"DAGSTER_HOME {home} has no dagster.yaml and there is none at {INSTANCE_YAML} to copy"
            )
        shutil.copyfile(INSTANCE_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _local_instance() -> None:
    """DAGSTER_HOME set up, and its SQLite files written the CLI's way (runtime/sqlite_wal.py:
    no fsync per event, one engine per file), for the commands that run Dagster in this process."""
    from assets.runtime import sqlite_wal

    dagster_home(get_settings())
    sqlite_wal.install()


def _instance() -> Any:
    from dagster import DagsterInstance

    _local_instance()
    return DagsterInstance.get()


@contextmanager
def _startup() -> Iterator[None]:
    """Dagster's imports and our definitions with the cyclic GC paused, then frozen out of its way.

    Importing Dagster and building the code location allocates ~260k long-lived objects; the
    collector's passes over them while they are being made cost ~0.3 s of a 1.6 s start (issue 28:
    measured on the full-market day), and `gc.freeze` keeps the run's own collections from walking
    them again. Nothing here is garbage, so pausing collects nothing late."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_materialize(args: argparse.Namespace) -> int:
    with _startup():
        from assets.definitions import build_defs
        from assets.runtime.failure import failure_line
        from assets.runtime.range_runs import LAYERS, controls_run_config, materialize_range
        from orderflow_pipeline.storage.keys import InvalidTicker

    # the dates first: a weekend or a reversed range is one line before Dagster starts
    core_cli.trading_range(args.date, args.to, "--date", "--to")
    layers = args.layers or (
        # a ticker repair leaves the date's smart-money features and universe alone (they are per
        # date, all tickers); the repaired summary's outcomes are rebuilt with it
        [name for name in LAYERS if name not in ("features", "universe")] if args.tickers else list(LAYERS)
    )
    try:
        run_config = controls_run_config(layers, force=args.force, tickers=args.tickers, source=args.source)
    except (ValueError, InvalidTicker) as exc:
        print(f"orderflow materialize: {exc}", file=sys.stderr)
        return 2
    with _startup():
        instance = _instance()
        defs = build_defs()
    result = materialize_range(
        defs,
        args.date,
        args.to,
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        asset_keys=[LAYERS[name] for name in layers],
    )
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "success": result.success,
                "from": str(args.date),
                "to": str(args.to or args.date),
                "layers": layers,
                "run_config": run_config,
            }
        )
    )
    if not result.success:
        line, details = failure_line(instance, result.run_id)
        print(line, file=sys.stderr)
        if details:
            print(details, file=sys.stderr)
    return 0 if result.success else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from assets.demo import run_demo

    _local_instance()
    return run_demo(days=args.days, tickers=args.tickers, seed=args.seed)


def cmd_runs_reap(args: argparse.Namespace) -> int:
    from assets.runtime.owners import slot_holders
    from assets.runtime.reaper import reap

    instance = _instance()
    lines = reap(instance)
    for line in lines:
        print(line)
    if not lines:
        print("no dead or finished run holds a pool slot")
    for pool, holders in sorted(slot_holders(instance).items()):
        for h in holders:
            print(f"pool {pool!r} held by run {h.describe()}")
    return 0


def cmd_runs_free_slot(args: argparse.Namespace) -> int:
    from assets.runtime.reaper import free_slots

    print(free_slots(_instance(), args.run_id))
    return 0


def add_dagster_commands(sub: core_cli.Subcommands) -> None:
    """The commands that start or repair Dagster runs, added to the core parser."""
    m = sub.add_parser(
        "materialize", help="run every partitioned layer through Dagster for a date range (one run)"
    )
    m.add_argument("--date", type=core_cli.parse_date, required=True)
    m.add_argument("--to", type=core_cli.parse_date, default=None)
    m.add_argument("--force", action="store_true", help="ignore the layers' manifests and rebuild")
    m.add_argument(
        "--tickers",
        type=_csv,
        default=None,
        help="A,B: rebuild only these tickers' footprint files and warehouse rows (others untouched)",
    )
    m.add_argument(
        "--source",
        choices=["lake"],
        default=None,
        help="build the summary from the lake and heal the warehouse",
    )
    m.add_argument(
        "--layers",
        type=_csv,
        default=None,
        help="comma list of footprint,warehouse,universe,features,summary,outcomes (default all; "
        "without features and universe when --tickers is given)",
    )
    m.set_defaults(func=cmd_materialize)

    d = sub.add_parser("demo", help="simulate, materialize through Dagster and print the newest summary")
    d.add_argument("--days", type=int, default=30)
    d.add_argument("--tickers", type=int, default=150)
    d.add_argument("--seed", type=int, default=7)
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("runs", help="repair Dagster runs: free pool slots held by dead or finished runs")
    rsub = r.add_subparsers(dest="runs_command", required=True)
    reap = rsub.add_parser(
        "reap",
        help="fail runs whose process on this host is gone, free their slots and those of finished runs",
    )
    reap.set_defaults(func=cmd_runs_reap)
    free = rsub.add_parser(
        "free-slot", help="free every pool slot of one run by hand (fails it if still in progress)"
    )
    free.add_argument("--run-id", required=True)
    free.set_defaults(func=cmd_runs_free_slot)


def build_parser() -> argparse.ArgumentParser:
    return core_cli.build_parser(add_dagster_commands)


def main(argv: list[str] | None = None) -> int:
    # The runner's own lines (slots freed, who holds a pool) go to stderr next to Dagster's log;
    # only the "orderflow" loggers, so libraries' INFO chatter (alembic, ...) stays quiet.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    runner_log = logging.getLogger("orderflow")
    if not runner_log.handlers:
        runner_log.addHandler(handler)
        runner_log.setLevel(logging.INFO)
        runner_log.propagate = False
    return core_cli.main(argv, add_dagster_commands)


def run() -> NoReturn:
    """The console script: `main`, then out without tearing the interpreter down.

    A materialize leaves ~2,000 modules and ~260k objects; freeing them one by one at exit cost
    0.5-0.8 s of every command (issue 28, strace'd: CPU in the main thread after the last line).
    By the time `main` returns, the run's resources (DuckDB connections, S3 sessions) are closed:
    Dagster tears them down at the end of the run. The instance's SQLite files hold every committed
    event (runtime/sqlite_wal.py leaves its connections open at exit on purpose). What is left is
    to flush: stdio, the log handlers, the atexit hooks. An exception still unwinds the normal way,
    traceback and all."""
    rc = main()
    import atexit

    logging.shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    run()
