"""Signal outcomes (issue 21): does a signal work? What each item of D's final summary did next.

For each item of `features/footprint-summary/{D}.json` (the final summary: its `sig` and `sc`), with
`close(S)` = the ticker's last candle's close on session S and `open(S)` = its first candle's open
(`warehouse.queries.session_open_close`, by `time_key` as in §9), D+k = the ticker's k-th own trading
session after D (a day it has candles):

    ret_next_oc = (close(D+1) − open(D+1)) / open(D+1) × 100
    ret_next_cc = (close(D+1) − close(D)) / close(D) × 100
    ret_5d      = (close(D+5) − close(D)) / close(D) × 100

each null while its session does not exist yet (or when D itself has no candle in the warehouse).
Later sessions are looked for up to HORIZON_CALENDAR_DAYS after D: a ticker that trades fewer than
5 times in that window keeps a null `ret_5d` (bounds the scan of a backfill of an old date).

The partition of D is therefore built again as D+1..D+5 arrive (the asset's sensor requests D−5..D
after each final summary); `build_outcomes` replaces D's rows in one transaction and rewrites the
lake file only when its bytes change, so an unchanged re-run changes nothing.

Report (`rolling_report`): per signal over the last `days` sessions, on `ret_next_cc`: count, hit
rate (share > 0 for the buy family, < 0 for the sell family), mean, median and a 95% percentile
bootstrap interval of the mean (seeded, so the same table gives the same interval), against NEUTRAL
as the baseline (its share moving the same way). Families: buy = STRONG_BUY, HIDDEN_ACCUM,
WATCH_ACCUM, BUY (each says "expect up"); sell = SELL, STRONG_SELL, TRAP_WARNING (heavy buying
into smart-money selling is a warning of a fall).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal, TypedDict

import duckdb
import numpy as np
import pyarrow as pa

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.summary.liquidity import Filter
from orderflow_pipeline.storage.keys import as_date, signal_outcomes_key, summary_key
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import duck, queries

ASSET = "signal_outcomes"
HORIZON = 5  # ret_5d: the 5th own session after D
HORIZON_CALENDAR_DAYS = 45  # later sessions are looked for this far after D
BUY_FAMILY = ("STRONG_BUY", "HIDDEN_ACCUM", "WATCH_ACCUM", "BUY")
SELL_FAMILY = ("SELL", "STRONG_SELL", "TRAP_WARNING")
BASELINE = "NEUTRAL"
REPORT_DAYS = 60
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 21
COLUMNS = ("date", "ticker", "sig", "sc", "ret_next_oc", "ret_next_cc", "ret_5d")
_SCHEMA = pa.schema(
    [("date", pa.date32()), ("ticker", pa.string()), ("sig", pa.string()), ("sc", pa.float64()),
     ("ret_next_oc", pa.float64()), ("ret_next_cc", pa.float64()), ("ret_5d", pa.float64())]
)  # fmt: skip

Family = Literal["buy", "sell", "baseline", "other"]


class Outcome(TypedDict):
    t: str
    sig: str
    sc: float | None
    ret_next_oc: float | None
    ret_next_cc: float | None
    ret_5d: float | None


Session = tuple[date, int, int]  # (date, open, close)


def family(sig: str) -> Family:
    if sig in BUY_FAMILY:
        return "buy"
    if sig in SELL_FAMILY:
        return "sell"
    return "baseline" if sig == BASELINE else "other"


def _pct(new: int | None, base: int | None) -> float | None:
    if new is None or not base:
        return None
    return (new - base) / base * 100.0


def compute_outcomes(
    d: date, items: Iterable[Mapping[str, Any]], sessions: Mapping[str, Sequence[Session]]
) -> list[Outcome]:
    """Pure: one outcome per summary item; `sessions[t]` = the ticker's (date, open, close) in any
    order, D and later (earlier ones are ignored)."""
    out: list[Outcome] = []
    for it in items:
        t = str(it["t"])
        own = sorted(s for s in sessions.get(t, ()) if s[0] >= d)
        base = own[0] if own and own[0][0] == d else None
        after = [s for s in own if s[0] > d]
        nxt = after[0] if after else None
        fifth = after[HORIZON - 1] if len(after) >= HORIZON else None
        close_d = base[2] if base else None
        sc = it.get("sc")
        out.append({
            "t": t, "sig": str(it["sig"]), "sc": float(sc) if sc is not None else None,
            "ret_next_oc": _pct(nxt[2], nxt[1]) if nxt else None,
            "ret_next_cc": _pct(nxt[2], close_d) if nxt else None,
            "ret_5d": _pct(fifth[2], close_d) if fifth else None,
        })  # fmt: skip
    return out


@dataclass
class OutcomesResult:
    date: str
    summary_found: bool = False
    items: int = 0
    with_next: int = 0  # items whose ret_next_cc is known
    with_5d: int = 0
    complete: bool = False  # every item with a D candle has its ret_5d
    file_written: bool = False
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def _summary_items(lake: Lake, d: date) -> list[dict[str, Any]] | None:
    try:
        doc = lake.read_json(summary_key(d))
    except FileNotFoundError:
        return None
    except ValueError:  # an unreadable summary is the summary layer's problem; no outcomes from it
        return None
    items = doc.get("items") if isinstance(doc, dict) else None
    return (
        [i for i in items if isinstance(i, dict) and "t" in i and "sig" in i]
        if isinstance(items, list)
        else []
    )


def build_outcomes(lake: Lake, con: duckdb.DuckDBPyConnection, d: date | str) -> OutcomesResult:
    """Outcomes of D's final summary into `signal_outcomes` (D's rows replaced) and
    `features/signal-outcomes/{D}.json` (written when its bytes change)."""
    started = time.perf_counter()
    d = as_date(d)
    res = OutcomesResult(date=d.isoformat())
    items = _summary_items(lake, d)
    res.summary_found = items is not None
    items = items or []
    tickers = sorted({str(i["t"]) for i in items})
    sessions: dict[str, list[Session]] = {}
    for t, day, o, c in queries.session_open_close(
        con, tickers, d, d + timedelta(days=HORIZON_CALENDAR_DAYS)
    ):
        sessions.setdefault(t, []).append((day, o, c))
    rows = compute_outcomes(d, items, sessions)
    tbl = pa.table(
        {"date": [d] * len(rows), "ticker": [r["t"] for r in rows], "sig": [r["sig"] for r in rows],
         "sc": [r["sc"] for r in rows], "ret_next_oc": [r["ret_next_oc"] for r in rows],
         "ret_next_cc": [r["ret_next_cc"] for r in rows], "ret_5d": [r["ret_5d"] for r in rows]},
        schema=_SCHEMA,
    )  # fmt: skip
    con.register("_so_new", tbl)
    try:

        def replace() -> None:  # keyed by date: runs writing other dates never touch these rows
            con.execute("DELETE FROM signal_outcomes WHERE date = ?", [d])
            con.execute(f"INSERT INTO signal_outcomes ({', '.join(COLUMNS)}) SELECT * FROM _so_new")

        duck.committed(con, replace)
    finally:
        con.unregister("_so_new")
    res.items = len(rows)
    res.with_next = sum(1 for r in rows if r["ret_next_cc"] is not None)
    res.with_5d = sum(1 for r in rows if r["ret_5d"] is not None)
    traded_on_d = {t for t, own in sessions.items() if any(day == d for day, _, _ in own)}
    # complete: nothing left to fill in (an item without a D candle never gets returns from closes)
    res.complete = all(r["ret_5d"] is not None for r in rows if r["t"] in traded_on_d)
    if res.summary_found:
        doc = {"date": d.isoformat(), "count": len(rows), "complete": res.complete, "items": rows}
        res.file_written = lake.write_if_changed(signal_outcomes_key(d), dumps(doc))
    res.seconds = time.perf_counter() - started
    return res


def export_select(where: str) -> str:
    """The export query of `signal_outcomes` (`export.py` supplies the date/ticker clause)."""
    return f"SELECT {', '.join(COLUMNS)} FROM signal_outcomes WHERE {where} ORDER BY date, ticker"


# -- rolling report -------------------------------------------------------------------------------


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of the mean; None for fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def _stats(values: Sequence[float], direction: Literal["up", "down"]) -> dict[str, Any]:
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    hits = int((x > 0).sum() if direction == "up" else (x < 0).sum())
    ci = bootstrap_ci(values)
    return {
        "count": n,
        "direction": direction,
        "hit_rate": hits / n if n else None,
        "mean": float(x.mean()) if n else None,
        "median": float(np.median(x)) if n else None,
        "ci95": list(ci) if ci else None,
    }


def report_from_rows(
    rows: Iterable[tuple[str, float | None]], *, sessions: Sequence[date], days: int
) -> dict[str, Any]:
    """Pure: the report from (sig, ret_next_cc) pairs (nulls skipped)."""
    by_sig: dict[str, list[float]] = {}
    for sig, r in rows:
        if r is not None and np.isfinite(r):
            by_sig.setdefault(sig, []).append(float(r))
    base = by_sig.get(BASELINE, [])
    base_up = _stats(base, "up")
    base_down = _stats(base, "down")

    def entry(name: str, values: list[float], direction: Literal["up", "down"]) -> dict[str, Any]:
        st = _stats(values, direction)
        b = base_up if direction == "up" else base_down
        st["baseline_hit_rate"] = b["hit_rate"]
        st["edge"] = (
            st["hit_rate"] - b["hit_rate"]
            if st["hit_rate"] is not None and b["hit_rate"] is not None
            else None
        )
        return {"signal": name, **st}

    signals = []
    for sig in sorted(by_sig):
        fam = family(sig)
        signals.append(entry(sig, by_sig[sig], "down" if fam == "sell" else "up"))
    families = [
        entry("BUY_FAMILY", [v for s in BUY_FAMILY for v in by_sig.get(s, [])], "up"),
        entry("SELL_FAMILY", [v for s in SELL_FAMILY for v in by_sig.get(s, [])], "down"),
    ]
    return {
        "days": days,
        "from": sessions[0].isoformat() if sessions else None,
        "to": sessions[-1].isoformat() if sessions else None,
        "return": "ret_next_cc",
        "baseline": {"signal": BASELINE, **base_up, "down_rate": base_down["hit_rate"]},
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "level": 0.95},
        "families": families,
        "signals": signals,
    }


def rolling_report(
    con: duckdb.DuckDBPyConnection | None,
    *,
    days: int = REPORT_DAYS,
    end: date | None = None,
    liquidity: Filter | None = None,
) -> dict[str, Any]:
    """Per-signal outcome statistics over the `days` IDX sessions ending at `end` (default: the
    newest date in `signal_outcomes`). `liquidity` keeps only the items of tickers of its kinds
    that traded at least its floor on the signal's date (`report["liquidity"]` says which)."""
    rep = _rolling_report(con, days=days, end=end, liquidity=liquidity)
    rep["liquidity"] = liquidity.as_dict() if liquidity is not None else None
    return rep


def _liquid_rows(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], flt: Filter, start: date, end: date
) -> list[tuple[str, float | None]]:
    """(sig, ret) of the (date, ticker, sig, ret) rows whose ticker-day `flt` keeps."""
    values = queries.traded_values(con, start, end)
    return [(sig, r) for d, t, sig, r in rows if flt.keeps(t, values.get((t, d)))]


def _rolling_report(
    con: duckdb.DuckDBPyConnection | None, *, days: int, end: date | None, liquidity: Filter | None
) -> dict[str, Any]:
    if con is None or not queries.has_table(con, ASSET):
        return report_from_rows([], sessions=[], days=days)
    if end is None:
        row = con.execute("SELECT max(date) FROM signal_outcomes").fetchone()
        end = row[0] if row and row[0] is not None else None
    if end is None:
        return report_from_rows([], sessions=[], days=days)
    sessions = idx_calendar.previous_sessions(end, days - 1) + [end]
    sessions = sorted(set(sessions))
    rows = con.execute(
        "SELECT date, ticker, sig, ret_next_cc FROM signal_outcomes WHERE date BETWEEN ? AND ? ORDER BY date, ticker",
        [sessions[0], sessions[-1]],
    ).fetchall()
    if liquidity is not None:
        return report_from_rows(
            _liquid_rows(con, rows, liquidity, sessions[0], sessions[-1]), sessions=sessions, days=days
        )
    return report_from_rows([(sig, r) for _, _, sig, r in rows], sessions=sessions, days=days)
