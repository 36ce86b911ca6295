"""`orderflow outcomes` (issues 21, 27): the rolling outcome report as JSON or a table.

The parser's arguments stay in `cli.py` (the command names are its contract); the body is here,
because the report grew (horizons, net of costs, halves, corrected p) past what
the core CLI module can hold. An empty window is the user's situation, not a bug: one line naming
the missing layer and the command that fills it (`outcome_report.missing_message`), exit 2, the
same as every other "nothing materialized yet" of the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from orderflow_pipeline.config import get_settings
from orderflow_pipeline.layers import outcome_report
from orderflow_pipeline.layers.outcome_stats import Costs

USAGE_EXIT = 2  # the core CLI's exit for the user's situation (cli.USAGE_EXIT; no import: a cycle)


def report(args: argparse.Namespace) -> dict[str, Any]:
    from orderflow_pipeline.warehouse import duck, queries

    settings = get_settings()
    kw: dict[str, Any] = {
        "days": args.days,
        "end": args.to,
        "liquidity": settings.liquidity if args.liquid else None,
        "costs": Costs.from_settings(settings),
    }
    try:
        with queries.reading(settings.warehouse_target) as con:
            return outcome_report.rolling_report(con, **kw)
    except duck.WarehouseMissing:
        return outcome_report.rolling_report(None, **kw)


def _f(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def as_text(rep: dict[str, Any]) -> list[str]:
    """One line per signal × horizon: gross and net mean, net t and BH p, and the two halves."""
    c = rep["costs"]
    out = [
        f"signal outcomes {rep['from']}..{rep['to']} ({rep['days']} sessions; halves "
        f"{rep['halves']['first']} / {rep['halves']['second']}); costs: buy {c['buy_fee_pct']}%, "
        f"sell {c['sell_fee_pct']}% incl. tax, {c['spread_ticks']} tick each way",
        f"{'signal':<14}{'horizon':<13}{'n':>6}{'hit':>7}{'gross%':>9}{'net%':>9}{'t':>7}{'p_bh':>8}"
        f"{'1st net%':>10}{'t':>7}{'2nd net%':>10}{'t':>7}{'@lim':>6}",
    ]
    for e in [rep["baseline"], *rep["families"], *rep["signals"]]:
        for h, fig in e["horizons"].items():
            g, n, a, b = fig["gross"], fig["net"], fig["first"]["net"], fig["second"]["net"]
            out.append(
                f"{e['signal']:<14}{h:<13}{n['count']:>6}{_f(n['hit_rate'], '.3f'):>7}"
                f"{_f(g['mean'], '.3f'):>9}{_f(n['mean'], '.3f'):>9}{_f(n['t'], '.2f'):>7}"
                f"{_f(n['p_bh'], '.3f'):>8}{_f(a['mean'], '.3f'):>10}{_f(a['t'], '.2f'):>7}"
                f"{_f(b['mean'], '.3f'):>10}{_f(b['t'], '.2f'):>7}{fig['at_limit']:>6}"
            )
    out.append(rep["verdict"])
    if rep.get("unpriced"):
        out.append(rep["unpriced"])
    return out


def cmd_outcomes(args: argparse.Namespace) -> int:
    """Print the rolling per-signal outcome report (JSON, or a table with --text)."""
    rep = report(args)
    if rep["status"] != "OK":
        print(f"orderflow outcomes: {rep['message']}", file=sys.stderr)
        return USAGE_EXIT
    print("\n".join(as_text(rep)) if args.text else json.dumps(rep, indent=2))
    if rep.get("unpriced") and not args.text:
        print(f"orderflow outcomes: {rep['unpriced']}", file=sys.stderr)
    return 0
