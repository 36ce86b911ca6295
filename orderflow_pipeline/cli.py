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


def cmd_outcomes(args: argparse.Namespace) -> int:
    """Print the rolling per-signal outcome report (JSON, or a table with --text)."""
    from . import duck, outcomes, warehouse

    try:
        with warehouse.reading(get_settings().duckdb_path) as con:
            rep = outcomes.rolling_report(con, days=args.days, end=args.to)
    except duck.WarehouseMissing:
        rep = outcomes.rolling_report(None, days=args.days, end=args.to)
    if not args.text:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"signal outcomes {rep['from']}..{rep['to']} ({rep['days']} sessions), return = {rep['return']}")
    print(f"{'signal':<14}{'n':>6}{'dir':>5}{'hit':>7}{'base':>7}{'mean%':>9}{'median%':>9}  95% CI of mean")
    for e in [rep["baseline"], *rep["families"], *rep["signals"]]:
        ci = e.get("ci95")

        def f(v: Any, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        print(f"{e['signal']:<14}{e['count']:>6}{e['direction']:>5}{f(e['hit_rate'], '.3f'):>7}"
              f"{f(e.get('baseline_hit_rate'), '.3f'):>7}{f(e['mean'], '.3f'):>9}{f(e['median'], '.3f'):>9}  "
              f"{'-' if not ci else f'{ci[0]:.3f}..{ci[1]:.3f}'}")  # fmt: skip
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write one warehouse table's rows dated [--from, --to] to a Parquet file (DuckDB COPY)."""
    from . import export, warehouse

    tickers = export.parse_tickers(args.tickers)
    try:
        export.check_request(args.table, args.start, args.end, tickers)
    except export.ExportError as exc:
        print(f"orderflow export: {exc}", file=sys.stderr)
        return 2
    with warehouse.reading(get_settings().duckdb_path) as con:
        rows = export.copy_parquet(con, args.table, args.start, args.end, args.out, tickers)
    print(json.dumps({"table": args.table, "from": args.start.isoformat(), "to": args.end.isoformat(),
                      "tickers": tickers or None, "rows": rows, "out": args.out}))  # fmt: skip
    return 0


def add_analytics_commands(sub: Subcommands) -> None:
    """`orderflow outcomes` and `orderflow export` (issue 21)."""
    from .export import EXPORT_TABLES
    from .outcomes import REPORT_DAYS

    o = sub.add_parser("outcomes", help="per-signal outcome report over the last N sessions (vs NEUTRAL)")
    o.add_argument("--days", type=int, default=REPORT_DAYS)
    o.add_argument("--to", type=parse_date, default=None, help="last session (default: newest with outcomes)")
    o.add_argument("--text", action="store_true", help="a table instead of JSON")
    o.set_defaults(func=cmd_outcomes)

    e = sub.add_parser("export", help="export a warehouse table's rows in a date range to Parquet")
    e.add_argument("--table", required=True, choices=sorted(EXPORT_TABLES))
    e.add_argument("--from", dest="start", type=parse_date, required=True)
    e.add_argument("--to", dest="end", type=parse_date, required=True)
    e.add_argument("--out", required=True, help="the Parquet file to write")
    e.add_argument("--tickers", default=None, help="comma-separated tickers (default all)")
    e.set_defaults(func=cmd_export)


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

    add_analytics_commands(sub)
    if extend is not None:
        extend(sub)
    return p


def main(argv: list[str] | None = None, extend: Extend | None = None) -> int:
    args = build_parser(extend).parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = args.func
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
