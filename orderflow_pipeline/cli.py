"""The core of the `orderflow` console script (SPEC §2, §15): the commands that run no Dagster.

The command names are the contract; each body calls the one core function that does the work,
so the CLI, the Dagster assets and the API never compute the same thing two ways.

The commands that run Dagster (`materialize`, `demo`, `runs`) live with the glue in
`assets/cli.py`, which builds on `build_parser` here and is the console-script entry point: the
core imports nothing from `assets/` and no Dagster. `python -m orderflow_pipeline.cli` offers
just the core commands.

A user's mistake (a weekend date, a reversed range, a bad setting, an unknown ticker, nothing
materialized yet) is one line `orderflow <command>: <what>` on stderr and exit 2, never a
traceback: `main` catches exactly the errors that describe the input (`user_errors`), so a bug
still shows its traceback, and `--debug` shows it for the user's mistakes too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from typing import Any

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import ConfigError, get_settings
from orderflow_pipeline.storage.lake import Lake

# argparse's sub-command registry (its class is private, so this alias is the one place naming it).
Subcommands = Any
Extend = Callable[[Subcommands], None]


# argparse's own exit code for a usage error; every user error below exits with it too.
USAGE_EXIT = 2
DEBUG_HELP = "show the Python traceback of an error"


class UsageError(ValueError):
    """A command's arguments that parse but cannot be run (e.g. a range with no trading day)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that describe the user's input or setup, each with a one-line message."""
    from orderflow_pipeline.read.scan import UnknownTicker
    from orderflow_pipeline.storage.keys import InvalidTicker
    from orderflow_pipeline.warehouse.duck import WarehouseBusy, WarehouseMissing

    return (UsageError, ConfigError, InvalidTicker, UnknownTicker, WarehouseMissing, WarehouseBusy)


def trading_range(start: date, end: date | None, first: str, last: str) -> list[date]:
    """The IDX sessions in [start, end or start]; UsageError (naming the options) when the range
    is reversed or holds none, so a weekend never silently does nothing."""
    if end is not None and start > end:
        raise UsageError(f"{first} {start} is after {last} {end}")
    days = idx_calendar.trading_days(start, end or start)
    if not days:
        between = f"on {start}" if end is None or end == start else f"between {start} and {end}"
        raise UsageError(f"no IDX trading day {between} (weekend or exchange holiday)")
    return days


def trading_day(d: date) -> date:
    """`d` when IDX trades on it; UsageError otherwise (a weekend has no data to fetch or check)."""
    if not idx_calendar.is_trading_day(d):
        raise UsageError(f"{d} is not an IDX trading day (weekend or exchange holiday)")
    return d


def parse_date(s: str) -> date:
    """argparse type for YYYY-MM-DD (a clear message instead of a traceback)."""
    try:
        return date.fromisoformat(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s}") from exc


def parse_ticker(s: str) -> str:
    """argparse type for a ticker (the lake's own validation, as a usage error)."""
    from orderflow_pipeline.storage.keys import InvalidTicker, check_ticker

    try:
        return check_ticker(s)
    except InvalidTicker as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def scan_days(s: str) -> int:
    """argparse type for `scan --days`: a whole number within 1..366."""
    from orderflow_pipeline.read.scan import MAX_DAYS

    if not s.isdigit() or not 1 <= int(s) <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"--days must be a whole number within 1..{MAX_DAYS}: {s}")
    return int(s)


def simulate_into_lake(
    lake: Lake, start: date, end: date, *, tickers: int, seed: int, shared_dir: str | None
) -> dict[str, Any]:
    """Write a simulated market to the lake. The one place outside tests that imports the simulator."""
    from orderflow_pipeline.simulator import simulate_range

    stats: dict[str, Any] = simulate_range(
        lake, start, end, n_tickers=tickers, seed=seed, progress=True, shared_dir=shared_dir
    )
    return stats


def cmd_simulate(args: argparse.Namespace) -> int:
    trading_range(args.start, args.end, "--start", "--end")
    settings = get_settings()
    stats = simulate_into_lake(
        Lake.from_settings(settings),
        args.start,
        args.end,
        tickers=args.tickers,
        seed=args.seed,
        shared_dir=settings.shared_dir,
    )
    print(json.dumps(stats, default=str))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from orderflow_pipeline.read.fallback import resolve_summary

    doc = resolve_summary(get_settings(), date=args.date, now=datetime.now(timezone.utc))
    print(json.dumps(doc, indent=None if args.compact else 2, ensure_ascii=False))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    get_settings()  # the app reads them on its first request: a bad one is an error here, not a 500

    uvicorn.run("orderflow_pipeline.api:app", host=args.host, port=args.port, log_level="info")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from orderflow_pipeline.read.integrity import integrity_report

    report = integrity_report(get_settings(), trading_day(args.date))
    print(json.dumps(report, indent=2, default=str))
    return 1 if report.get("status") == "ERROR" else 0


def cmd_fetch_broksum(args: argparse.Namespace) -> int:
    from orderflow_pipeline.sources.ipot.broksum.fetch import FetchConfig, fetch_broksum

    trading_day(args.date)
    settings = get_settings()
    cfg = FetchConfig.from_settings(
        settings, url=args.url, token=args.token, concurrency=args.concurrency, retries=args.retries
    )
    tickers = [t for t in (args.tickers or "").split(",") if t.strip()] or None
    res = fetch_broksum(Lake.from_settings(settings), args.date, tickers, cfg)
    print(json.dumps(res.as_dict()))
    return 0 if res.ok else 1


def cmd_replay_server(args: argparse.Namespace) -> int:
    """Serve a lake day over the IPOT protocol (orderflow_pipeline.sources.ipot.replay)."""
    import asyncio
    import logging

    from orderflow_pipeline.sources.ipot.replay.server import ReplayConfig, latest_tape_date, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lake = Lake.from_settings(get_settings())
    d = args.date or latest_tape_date(lake)
    if d is None:
        print(f"replay-server: no raw_lt tape in {lake!r}; pass --date", file=sys.stderr)
        return 2
    trading_day(d)
    for opt, v in (("--speed", args.speed), ("--rate", args.rate)):
        if not 0 <= v < float("inf"):  # negative or nan: the server would listen and send nothing
            raise UsageError(f"{opt} must be a number >= 0, got {v:g}")
    if args.send_log:
        try:
            open(args.send_log, "a").close()  # noqa: SIM115 - only: can it be written?
        except OSError as exc:
            print(
                f"replay-server: cannot write --send-log {args.send_log!r}: {exc.strerror}", file=sys.stderr
            )
            return 2
    cfg = ReplayConfig(
        date=d,
        speed=args.speed,
        rate=args.rate,
        send_log=args.send_log,
        host=args.host,
        port=args.port,
        ping_interval=args.ping_interval,
        replay_last=args.replay_last,
        drop_every=args.drop_every,
        noservice=args.noservice,
        malformed_every=args.malformed_every,
        stall_after=args.stall_after,
        stall_for=args.stall_for,
        token=args.token,
    )
    try:
        asyncio.run(serve(cfg, lake))
    except KeyboardInterrupt:
        pass
    return 0


def add_replay_server_command(sub: Subcommands) -> None:
    r = sub.add_parser(
        "replay-server", help="serve a lake day over the IPOT WebSocket protocol (tests, demo)"
    )
    r.add_argument(
        "--date", type=parse_date, default=None, help="trading date to serve (default: newest tape)"
    )
    r.add_argument("--speed", type=float, default=60.0, help="times real speed; 0 = as fast as possible")
    r.add_argument(
        "--rate", type=float, default=0.0, help="trades per second instead of --speed (load tests)"
    )
    r.add_argument("--send-log", default=None, help="append 'wall ns<TAB>raw line' per trade's first send")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on stdout)")
    r.add_argument("--ping-interval", type=float, default=10.0)
    r.add_argument("--replay-last", type=int, default=0, help="trades re-sent after a reconnect")
    r.add_argument("--drop-every", type=float, default=0.0, help="fault: close each connection after N s")
    r.add_argument(
        "--noservice", type=int, default=0, help="fault: NOSERVICE to the first M subscribes (-1: all)"
    )
    r.add_argument(
        "--malformed-every", type=int, default=0, help="fault: a malformed frame after every N trades"
    )
    r.add_argument("--stall-after", type=float, default=0.0, help="fault: stop trades after N s of streaming")
    r.add_argument("--stall-for", type=float, default=3600.0, help="fault: ... for this many seconds")
    r.add_argument("--token", default=None, help="accept only this appsession (HTTP 403 otherwise)")
    r.set_defaults(func=cmd_replay_server)


def cmd_capture(args: argparse.Namespace) -> int:
    """Capture the IPOT live trade stream into raw_lt/ (orderflow_pipeline.sources.ipot.capture)."""
    import logging
    import socket
    from pathlib import Path

    from orderflow_pipeline.sources.ipot.capture.run import run_capture
    from orderflow_pipeline.sources.ipot.capture.spool import check_capture_id
    from orderflow_pipeline.sources.ipot.capture.state import DEFAULT_SPOOL_ROOT, CaptureConfig

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    default_id = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname())[:64] or "capture"
    capture_id = args.capture_id or settings.capture_id or default_id
    try:
        check_capture_id(capture_id)
    except ValueError as exc:
        print(f"capture: {exc}", file=sys.stderr)
        return 2
    spool = args.spool or settings.capture_spool or str(DEFAULT_SPOOL_ROOT / capture_id)
    cfg = CaptureConfig(
        url=args.url or settings.ipot_url,
        token=args.token or settings.ipot_token,
        token_url=settings.ipot_token_url,
        date=args.date,
        duration=args.duration,
        capture_id=capture_id,
        spool=Path(spool).expanduser().resolve(),
        flush_seconds=args.flush_seconds,
        flush_lines=args.flush_lines,
        flush_bytes=args.flush_bytes,
        fsync_interval=min(args.fsync_interval, 1.0),
        stall_seconds=args.stall_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
        backoff_cap=args.backoff_cap,
        lake_retry_cap=args.lake_retry_cap,
        max_failures=args.max_failures,
        final_flush_timeout=args.final_flush_timeout,
    )
    if not cfg.token and not cfg.token_url:
        logging.getLogger("orderflow.capture").warning(
            "capture: no ORDERFLOW_IPOT_TOKEN / --token: connecting without an appsession"
        )
    return run_capture(cfg, settings)


def add_capture_command(sub: Subcommands) -> None:
    c = sub.add_parser("capture", help="capture the IPOT live trade stream into raw_lt/ (long-running)")
    c.add_argument("--url", default=None, help="feed URL (default ORDERFLOW_IPOT_URL or the IPOT socket)")
    c.add_argument("--token", default=None, help="appsession token (default ORDERFLOW_IPOT_TOKEN)")
    c.add_argument("--date", type=parse_date, default=None, help="trading date captured (default today, WIB)")
    c.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds, flushed, exit 0"
    )
    c.add_argument("--capture-id", default=None, help="names objects and heartbeat (default: host name)")
    c.add_argument("--spool", default=None, help="local spool folder (default ./data/capture-spool/{id})")
    c.add_argument("--flush-seconds", type=float, default=5.0)
    c.add_argument("--flush-lines", type=int, default=500)
    c.add_argument("--flush-bytes", type=int, default=512 * 1024)
    c.add_argument("--fsync-interval", type=float, default=0.5, help="seconds, at most 1")
    c.add_argument(
        "--stall-seconds", type=float, default=60.0, help="no trade this long in session = failure"
    )
    c.add_argument("--heartbeat-seconds", type=float, default=5.0)
    c.add_argument("--backoff-cap", type=float, default=30.0)
    c.add_argument("--lake-retry-cap", type=float, default=30.0)
    c.add_argument("--max-failures", type=int, default=0, help="exit 1 after this many in a row (0: never)")
    c.add_argument(
        "--final-flush-timeout", type=float, default=30.0, help="seconds to drain the spool at stop"
    )
    c.add_argument("--log-level", default="INFO")
    c.set_defaults(func=cmd_capture)


def cmd_aggressor_quality(args: argparse.Namespace) -> int:
    """How D's trade sides were decided and how often the tick rule agrees (JSON, or --text)."""
    from orderflow_pipeline.layers.footprint.aggressor_quality import measure_day

    q = measure_day(Lake.from_settings(get_settings()), trading_day(args.date))
    print(q.as_text() if args.text else json.dumps(q.as_dict(), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write one warehouse table's rows dated [--from, --to] to a Parquet file (DuckDB COPY)."""
    from orderflow_pipeline.read import export
    from orderflow_pipeline.warehouse import queries

    tickers = export.parse_tickers(args.tickers)
    try:
        export.check_request(args.table, args.start, args.end, tickers)
    except export.ExportError as exc:
        print(f"orderflow export: {exc}", file=sys.stderr)
        return 2
    with queries.reading(get_settings().warehouse_target) as con:
        rows = export.copy_parquet(con, args.table, args.start, args.end, args.out, tickers)
    print(json.dumps({"table": args.table, "from": args.start.isoformat(), "to": args.end.isoformat(),
                      "tickers": tickers or None, "rows": rows, "out": args.out}))  # fmt: skip
    return 0


def cmd_outcomes(args: argparse.Namespace) -> int:
    """`orderflow outcomes`: the body is `read/outcomes_cli.py` (imported when the command runs)."""
    from orderflow_pipeline.layers.outcome_report import REPORT_DAYS
    from orderflow_pipeline.read import outcomes_cli

    if args.days is None:
        args.days = REPORT_DAYS
    return outcomes_cli.cmd_outcomes(args)


class ExportTables:
    """`--table`'s choices, read from `read/export.py` only when argparse looks at them (a bad
    value, `--help`): building the parser imports no analytics module, so `orderflow
    materialize` does not pay for the outcome report's and the export's imports (issue 28)."""

    def _names(self) -> list[str]:
        from orderflow_pipeline.read.export import EXPORT_TABLES

        return sorted(EXPORT_TABLES)

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def add_analytics_commands(sub: Subcommands) -> None:
    """`orderflow outcomes` (its own module), `aggressor-quality` and `orderflow export`."""
    o = sub.add_parser("outcomes", help="per-signal outcome report, net of costs, over the last N sessions")
    o.add_argument("--days", type=int, default=None, help="sessions in the window (default: the report's)")
    o.add_argument("--to", type=parse_date, default=None, help="last session (default: newest with outcomes)")
    o.add_argument("--text", action="store_true", help="a table instead of JSON")
    o.add_argument(
        "--liquid",
        action="store_true",
        help="only items of the liquid view (ORDERFLOW_MIN_TRADED_VALUE, _LIQUID_KINDS)",
    )
    o.set_defaults(func=cmd_outcomes)

    aq = sub.add_parser("aggressor-quality", help="a day's trade sides by source and the rules' agreement")
    aq.add_argument("--date", type=parse_date, required=True)
    aq.add_argument("--text", action="store_true", help="a few lines instead of JSON")
    aq.set_defaults(func=cmd_aggressor_quality)

    e = sub.add_parser("export", help="export a warehouse table's rows in a date range to Parquet")
    # a metavar, because argparse formats a metavar from the choices when the argument is added
    e.add_argument(
        "--table",
        required=True,
        choices=ExportTables(),
        metavar="TABLE",
        help="a warehouse table (daily_features, footprint_1m, ...; a wrong name lists them)",
    )
    e.add_argument("--from", dest="start", type=parse_date, required=True)
    e.add_argument("--to", dest="end", type=parse_date, required=True)
    e.add_argument("--out", required=True, help="the Parquet file to write")
    e.add_argument("--tickers", default=None, help="comma-separated tickers (default all)")
    e.set_defaults(func=cmd_export)


def cmd_scan(args: argparse.Namespace) -> int:
    """`orderflow scan`: the gap report as JSON (the `GET /integrity-scan` body); exit 1 with gaps."""
    from orderflow_pipeline.read import scan

    settings = get_settings()
    to = args.to or idx_calendar.wib_date(datetime.now(timezone.utc))
    report = scan.scan_known(
        Lake.from_settings(settings), settings.warehouse_target, args.ticker, to, args.days
    )
    print(json.dumps(report, indent=2))
    return 1 if report["gaps"] else 0


def build_parser(extend: Extend | None = None) -> argparse.ArgumentParser:
    """The parser of the core commands; `extend(subcommands)` adds more (the glue's Dagster ones)."""
    p = argparse.ArgumentParser(
        prog="orderflow", description="IDX order-flow scanner: lake -> footprint -> DuckDB -> summary."
    )
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
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

    fb = sub.add_parser(
        "fetch-broksum",
        help="fetch D's broker summaries (en_qu_top_bs, both sides) into raw-broksum/; exit 1 if a ticker failed",
    )
    fb.add_argument("--date", type=parse_date, required=True)
    fb.add_argument("--tickers", help="A,B,... (default: every ticker that traded on D)")
    fb.add_argument("--url", help="WebSocket URL (default ORDERFLOW_IPOT_URL or the IPOT feed)")
    fb.add_argument("--token", help="appsession token (default ORDERFLOW_IPOT_TOKEN)")
    fb.add_argument("--concurrency", type=int, help="connections, one query in flight each (default 4)")
    fb.add_argument("--retries", type=int, help="extra attempts per ticker (default 3)")
    fb.set_defaults(func=cmd_fetch_broksum)

    add_replay_server_command(sub)
    add_capture_command(sub)

    add_analytics_commands(sub)
    sc = sub.add_parser("scan", help="one ticker's gaps over its last N trading days as JSON; exit 1 on gaps")
    sc.add_argument("--ticker", type=parse_ticker, required=True)
    sc.add_argument("--days", type=scan_days, default=90, help="trading days to scan (1..366, default 90)")
    sc.add_argument("--to", type=parse_date, default=None, help="last date (default today, WIB)")
    sc.set_defaults(func=cmd_scan)

    if extend is not None:
        extend(sub)
    for command in sub.choices.values():
        # also after the command (`orderflow scan ... --debug`); SUPPRESS keeps the top-level value
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return p


def main(argv: list[str] | None = None, extend: Extend | None = None) -> int:
    args = build_parser(extend).parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = args.func
    try:
        return int(func(args) or 0)
    except user_errors() as exc:
        if args.debug:
            raise
        # one line even when a message spans several (Dagster's, DuckDB's)
        print(f"orderflow {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"orderflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
