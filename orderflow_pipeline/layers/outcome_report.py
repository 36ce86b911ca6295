"""The rolling outcome report (issues 21, 27; SPEC §17): what the signals of a window of sessions
were worth, in figures a referee accepts.

Per signal, per family (BUY_FAMILY, SELL_FAMILY) and for the NEUTRAL baseline, per horizon
(`outcomes.HORIZONS`: next open→close, next close→close, 5-day), gross and net of costs
(`outcome_stats.net_return`), on the whole window and on the first and second half of its
sessions (the out-of-sample check: a figure found on the first half should hold on the second):
n, hit rate, mean, median, 95% bootstrap interval (whole window), t, p, and `p_bh`, the
Benjamini–Hochberg p over every figure of the report at once (one family of tests: reading many
figures at once is what the correction is for). `passing` lists the signal × horizon figures
with t > 3 in the signal's direction on net returns over the whole window; an empty list is a
valid result and `verdict` says so in words.

Entries at the auto-rejection limit that blocks them (`outcomes.blocked`) are left out of the
figures of that horizon and counted apart (`at_limit` per horizon, `limit` for the report).

The top-level fields of each line stay issue 21's: the gross next-day close-to-close figures,
with `edge` = hit rate − NEUTRAL's share moving the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

import duckdb

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers import outcome_stats as st
from orderflow_pipeline.layers.outcomes import (
    ASSET,
    BASELINE,
    BUY_FAMILY,
    HORIZONS,
    SELL_FAMILY,
    blocked,
    family,
)
from orderflow_pipeline.layers.summary.liquidity import Filter
from orderflow_pipeline.warehouse import queries

REPORT_DAYS = 60
PRIMARY = "ret_next_cc"  # the line's top-level (issue 21) figures
PARTS = ("first", "second")


class ReportRow(NamedTuple):
    """What the report reads of one `signal_outcomes` row."""

    date: date
    ticker: str
    sig: str
    ret_next_oc: float | None
    ret_next_cc: float | None
    ret_5d: float | None
    close_d: int | None
    open_next: int | None
    close_next: int | None
    close_5d: int | None
    lim: str | None
    lim_next: str | None


REPORT_COLUMNS = ReportRow._fields


def _direction(sig: str) -> st.Direction:
    return "down" if family(sig) == "sell" else "up"


def _horizon(
    rows: Sequence[ReportRow], h: str, direction: st.Direction, costs: st.Costs, *, ci: bool
) -> dict[str, Any]:
    """Gross and net statistics of these rows on horizon `h` (null returns and blocked entries
    skipped; `at_limit` counts the blocked ones)."""
    entry, exit_, flag = HORIZONS[h]
    side: st.Side = "long" if direction == "up" else "short"
    known = [r for r in rows if getattr(r, h) is not None and math.isfinite(getattr(r, h))]
    ok = [r for r in known if not blocked(r.sig, getattr(r, flag))]
    gross = [float(getattr(r, h)) for r in ok]
    net = [
        v for r in ok if (v := st.net_return(getattr(r, entry), getattr(r, exit_), side, costs)) is not None
    ]
    return {
        "gross": st.stats(gross, direction, ci=ci),
        "net": st.stats(net, direction, ci=ci),
        "at_limit": len(known) - len(ok),
    }


def _halves(dates: Iterable[date]) -> tuple[list[date], list[date]]:
    """The first and second half of the sessions that have rows (the first gets the odd one)."""
    days = sorted(set(dates))
    mid = (len(days) + 1) // 2
    return days[:mid], days[mid:]


def report_from_rows(
    rows: Iterable[ReportRow],
    *,
    sessions: Sequence[date],
    days: int,
    costs: st.Costs | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Pure: the report of these outcome rows over the window `sessions`."""
    costs = costs or st.Costs()
    every = list(rows)
    first, second = _halves(r.date for r in every)
    cut = second[0] if second else None
    by_sig: dict[str, list[ReportRow]] = {}
    for r in every:
        by_sig.setdefault(r.sig, []).append(r)
    figures: list[dict[str, Any]] = []  # every figure of the report: one BH pass over their p
    passing: list[dict[str, Any]] = []

    def line(name: str, members: list[ReportRow], direction: st.Direction) -> dict[str, Any]:
        halves = {
            "first": [r for r in members if cut is None or r.date < cut],
            "second": [r for r in members if cut is not None and r.date >= cut],
        }
        horizons: dict[str, dict[str, Any]] = {}
        for h in HORIZONS:
            fig = _horizon(members, h, direction, costs, ci=True)
            for part, sub in halves.items():
                half = _horizon(sub, h, direction, costs, ci=False)
                fig[part] = {"gross": half["gross"], "net": half["net"]}
                figures.extend((half["gross"], half["net"]))
            figures.extend((fig["gross"], fig["net"]))
            horizons[h] = fig
            if name != BASELINE and st.passes(fig["net"]):
                passing.append({"signal": name, "horizon": h, "net": fig["net"]})
        top = horizons[PRIMARY]["gross"]
        head = {k: top[k] for k in ("count", "direction", "hit_rate", "mean", "median", "ci95")}
        return {"signal": name, **head, "horizons": horizons}

    base = by_sig.get(BASELINE, [])
    baseline = line(BASELINE, base, "up")
    base_cc = [r.ret_next_cc for r in base if r.ret_next_cc is not None and not blocked(r.sig, r.lim)]
    base_down = st.stats(base_cc, "down", ci=False)["hit_rate"]

    def against_baseline(entry: dict[str, Any]) -> dict[str, Any]:
        b = baseline["hit_rate"] if entry["direction"] == "up" else base_down
        entry["baseline_hit_rate"] = b
        hit = entry["hit_rate"]
        entry["edge"] = hit - b if hit is not None and b is not None else None
        return entry

    families = [
        against_baseline(line("BUY_FAMILY", [r for s in BUY_FAMILY for r in by_sig.get(s, [])], "up")),
        against_baseline(line("SELL_FAMILY", [r for s in SELL_FAMILY for r in by_sig.get(s, [])], "down")),
    ]
    signals = [against_baseline(line(s, by_sig[s], _direction(s))) for s in sorted(by_sig) if s != BASELINE]
    tests = st.adjust_all(figures)
    limited = {
        h: sum(1 for r in every if getattr(r, h) is not None and blocked(r.sig, getattr(r, flag)))
        for h, (_, _, flag) in HORIZONS.items()
    }
    return {
        "status": "OK" if every else "NO_DATA",
        "message": message,
        "days": days,
        "from": sessions[0].isoformat() if sessions else None,
        "to": sessions[-1].isoformat() if sessions else None,
        "return": PRIMARY,
        "horizons": list(HORIZONS),
        "costs": costs.describe(),
        "halves": {
            "first": [first[0].isoformat(), first[-1].isoformat()] if first else None,
            "second": [second[0].isoformat(), second[-1].isoformat()] if second else None,
        },
        "tests": tests,
        "criterion": f"t > {st.PASS_T:g} in the signal's direction (t < -{st.PASS_T:g} for the sell "
        "family) on returns net of costs over the whole window",
        "passing": passing,
        "verdict": _verdict(passing, tests),
        "limit": {
            "rule": "left out of a horizon: a buy-family (or NEUTRAL) entry at ARA, a sell-family "
            "entry at ARB (lim: the item's close on D; lim_next: the next session's open)",
            "by_horizon": limited,
        },
        "baseline": {**baseline, "down_rate": base_down},
        "bootstrap": {"resamples": st.BOOTSTRAP_RESAMPLES, "seed": st.BOOTSTRAP_SEED, "level": 0.95},
        "families": families,
        "signals": signals,
    }


def _verdict(passing: list[dict[str, Any]], tests: int) -> str:
    if not passing:
        return (
            f"no signal × horizon passes t > {st.PASS_T:g} net of costs ({tests} figures tested): "
            "no edge shown in this window"
        )
    names = ", ".join(f"{p['signal']} {p['horizon']}" for p in passing)
    return f"{len(passing)} pass t > {st.PASS_T:g} net of costs: {names}"


def stale_message(start: date, end: date, dates: int) -> str:
    """Rows built before issue 27's prices have gross returns only (no net figure): say so and how
    to rebuild them, rather than print net counts of zero with no word of why."""
    a, b = start.isoformat(), end.isoformat()
    return (
        f"{dates} session(s) in {a}..{b} of {ASSET} were built without entry/exit prices, so they "
        f"have no net figures: rebuild with `orderflow materialize --date {a} --to {b} --layers outcomes`"
    )


def missing_message(start: date | None, end: date | None) -> str:
    """What to run when the window holds no outcome rows: the layer and the command that fills it."""
    if start is None or end is None:
        return (
            f"{ASSET} is empty: build it with `orderflow materialize --date FIRST --to LAST` over "
            "the sessions of the lake (the outcomes layer runs after the summary; "
            "`--layers outcomes` when the summaries exist)"
        )
    a, b = start.isoformat(), end.isoformat()
    return (
        f"{ASSET} has no rows for {a}..{b}: build them with `orderflow materialize --date {a} "
        f"--to {b}` (the outcomes layer; `--layers outcomes` when the summaries exist)"
    )


def _liquid(
    con: duckdb.DuckDBPyConnection, rows: list[ReportRow], flt: Filter, a: date, b: date
) -> list[ReportRow]:
    """The rows whose ticker-day `flt` keeps (the traded value of the signal's date)."""
    values = queries.traded_values(con, a, b)
    return [r for r in rows if flt.keeps(r.ticker, values.get((r.ticker, r.date)))]


def rolling_report(
    con: duckdb.DuckDBPyConnection | None,
    *,
    days: int = REPORT_DAYS,
    end: date | None = None,
    liquidity: Filter | None = None,
    costs: st.Costs | None = None,
) -> dict[str, Any]:
    """The report over the `days` IDX sessions ending at `end` (default: the newest date in
    `signal_outcomes`). `liquidity` keeps only the items of tickers of its kinds that traded at
    least its floor on the signal's date (`report["liquidity"]` says which). With no row in the
    window the report says so: `status` NO_DATA and `message` (the layer and the command)."""
    has = con is not None and queries.has_table(con, ASSET)
    if end is None and has:
        assert con is not None
        row = con.execute(f"SELECT max(date) FROM {ASSET}").fetchone()
        end = row[0] if row and row[0] is not None else None
    rows: list[ReportRow] = []
    sessions: list[date] = []
    if end is not None:
        sessions = sorted(set(idx_calendar.previous_sessions(end, days - 1) + [end]))
        if has:
            assert con is not None
            # a warehouse written before issue 27's columns: its rows read with null prices
            # ("no net figure") until the next writer migrates it and a rebuild fills them
            present = queries.columns_of(con, ASSET)
            cols = ", ".join(c if c in present else f"NULL AS {c}" for c in REPORT_COLUMNS)
            rows = [
                ReportRow(*r)
                for r in con.execute(
                    f"SELECT {cols} FROM {ASSET} WHERE date BETWEEN ? AND ? ORDER BY date, ticker",
                    [sessions[0], sessions[-1]],
                ).fetchall()
            ]
    message = None
    if not rows:
        message = missing_message(sessions[0], sessions[-1]) if sessions else missing_message(None, None)
    elif liquidity is not None:
        assert con is not None
        rows = _liquid(con, rows, liquidity, sessions[0], sessions[-1])
        if not rows:  # the table is filled: the filter is what leaves nothing (no rebuild helps)
            message = f"no item of the liquid view {liquidity.as_dict()} in {sessions[0]}..{sessions[-1]}"
    rep = report_from_rows(rows, sessions=sessions, days=days, costs=costs, message=message)
    rep["liquidity"] = liquidity.as_dict() if liquidity is not None else None
    unpriced = sorted({r.date for r in rows if r.close_d is None})
    rep["unpriced"] = stale_message(unpriced[0], unpriced[-1], len(unpriced)) if unpriced else None
    return rep
