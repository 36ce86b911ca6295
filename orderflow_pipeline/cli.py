"""`orderflow` console script (SPEC §2, §15).

The command names are the contract; each body calls the one core function that does the work,
so the CLI, the Dagster assets and the API never compute the same thing two ways.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone

from .config import get_settings
from .lake import Lake


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s}") from exc


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_range

    lake = Lake.from_settings()
    stats = simulate_range(lake, args.start, args.end, n_tickers=args.tickers, seed=args.seed, progress=True)
    print(json.dumps(stats, default=str))
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    from assets.runner import materialize_range  # the CLI is an entry point; the core stays Dagster-free

    result = materialize_range(args.date, args.to, raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success, "from": str(args.date),
                      "to": str(args.to or args.date)}))
    return 0 if result.success else 1


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


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(days=args.days, tickers=args.tickers, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orderflow", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write a realistic simulated IDX market (tape + broker summaries) to the lake")
    s.add_argument("--start", type=_date, required=True)
    s.add_argument("--end", type=_date, required=True)
    s.add_argument("--tickers", type=int, default=150)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(func=cmd_simulate)

    m = sub.add_parser("materialize", help="run every partitioned layer through Dagster for a date range (one run)")
    m.add_argument("--date", type=_date, required=True)
    m.add_argument("--to", type=_date, default=None)
    m.set_defaults(func=cmd_materialize)

    sm = sub.add_parser("summary", help="print the footprint summary JSON (read-side fallback chain)")
    sm.add_argument("--date", type=_date, default=None)
    sm.add_argument("--compact", action="store_true")
    sm.set_defaults(func=cmd_summary)

    sv = sub.add_parser("serve", help="serve the HTTP API and dashboard")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(func=cmd_serve)

    c = sub.add_parser("check", help="integrity report for a date as JSON; exit 1 on ERROR")
    c.add_argument("--date", type=_date, required=True)
    c.set_defaults(func=cmd_check)

    d = sub.add_parser("demo", help="simulate, materialize through Dagster and print the newest summary")
    d.add_argument("--days", type=int, default=30)
    d.add_argument("--tickers", type=int, default=150)
    d.add_argument("--seed", type=int, default=7)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
