"""The core of the `orderflow` console script (SPEC §2, §15): the commands that run no Dagster.

The command names are the contract; each body calls the one core function that does the work,
so the CLI, the Dagster assets and the API never compute the same thing two ways.

The commands that run Dagster (`materialize`, `demo`, `runs`) live with the glue in
`assets/cli.py`, which builds on `build_parser` here and is the console-script entry point: the
core imports nothing from `assets/` and no Dagster. `python -m orderflow_pipeline.cli` offers
just the core commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from .config import get_settings
from .lake import Lake

# argparse's sub-command registry (its class is private, so this alias is the one place naming it).
Subcommands = Any
Extend = Callable[[Subcommands], None]


def parse_date(s: str) -> date:
    """argparse type for YYYY-MM-DD (a clear message instead of a traceback)."""
    try:
        return date.fromisoformat(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s}") from exc


def parse_ticker(s: str) -> str:
    """argparse type for a ticker (the lake's own validation, as a usage error)."""
    from .keys import InvalidTicker, check_ticker

    try:
        return check_ticker(s)
    except InvalidTicker as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def scan_days(s: str) -> int:
    """argparse type for `scan --days`: a whole number within 1..366."""
    from .scan import MAX_DAYS

    if not s.isdigit() or not 1 <= int(s) <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"--days must be a whole number within 1..{MAX_DAYS}: {s}")
    return int(s)


def simulate_into_lake(lake: Lake, start: date, end: date, *, tickers: int, seed: int) -> dict[str, Any]:
    """Write a simulated market to the lake. The one place outside tests that imports the simulator."""
    from .simulator import simulate_range

    stats: dict[str, Any] = simulate_range(lake, start, end, n_tickers=tickers, seed=seed, progress=True)
    return stats


def cmd_simulate(args: argparse.Namespace) -> int:
    stats = simulate_into_lake(
        Lake.from_settings(), args.start, args.end, tickers=args.tickers, seed=args.seed
    )
    print(json.dumps(stats, default=str))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .fallback import resolve_summary

    doc = resolve_summary(get_settings(), date=args.date, now=datetime.now(timezone.utc))
    print(json.dumps(doc, indent=None if args.compact else 2, ensure_ascii=False))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("orderflow_pipeline.api:app", host=args.host, port=args.port, log_level="info")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .integrity import integrity_report

    report = integrity_report(get_settings(), args.date)
    print(json.dumps(report, indent=2, default=str))
    return 1 if report.get("status") == "ERROR" else 0


def cmd_scan(args: argparse.Namespace) -> int:
    """`orderflow scan`: the gap report as JSON (the `GET /integrity-scan` body); exit 1 with gaps."""
    from . import idx_calendar, scan

    settings = get_settings()
    to = args.to or idx_calendar.wib_date(datetime.now(timezone.utc))
    report = scan.scan(Lake.from_settings(settings), settings.duckdb_path, args.ticker, to, args.days)
    print(json.dumps(report, indent=2))
    return 1 if report["gaps"] else 0


def build_parser(extend: Extend | None = None) -> argparse.ArgumentParser:
    """The parser of the core commands; `extend(subcommands)` adds more (the glue's Dagster ones)."""
    p = argparse.ArgumentParser(
        prog="orderflow", description="IDX order-flow scanner: lake -> footprint -> DuckDB -> summary."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "simulate", help="write a realistic simulated IDX market (tape + broker summaries) to the lake"
    )
    s.add_argument("--start", type=parse_date, required=True)
    s.add_argument("--end", type=parse_date, required=True)
    s.add_argument("--tickers", type=int, default=150)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(func=cmd_simulate)

    sm = sub.add_parser("summary", help="print the footprint summary JSON (read-side fallback chain)")
    sm.add_argument("--date", type=parse_date, default=None)
    sm.add_argument("--compact", action="store_true")
    sm.set_defaults(func=cmd_summary)

    sv = sub.add_parser("serve", help="serve the HTTP API and dashboard")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(func=cmd_serve)

    c = sub.add_parser("check", help="integrity report for a date as JSON; exit 1 on ERROR")
    c.add_argument("--date", type=parse_date, required=True)
    c.set_defaults(func=cmd_check)

    sc = sub.add_parser("scan", help="one ticker's gaps over its last N trading days as JSON; exit 1 on gaps")
    sc.add_argument("--ticker", type=parse_ticker, required=True)
    sc.add_argument("--days", type=scan_days, default=90, help="trading days to scan (1..366, default 90)")
    sc.add_argument("--to", type=parse_date, default=None, help="last date (default today, WIB)")
    sc.set_defaults(func=cmd_scan)

    if extend is not None:
        extend(sub)
    return p


def main(argv: list[str] | None = None, extend: Extend | None = None) -> int:
    args = build_parser(extend).parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = args.func
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
