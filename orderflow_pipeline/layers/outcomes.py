"""Signal outcomes (issues 21, 27; SPEC §17): does a signal work? What each item of D's final
summary did next.

For each item of `features/footprint-summary/{D}.json` (the final summary: its `sig` and `sc`), with
`close(S)` = the ticker's last candle's close on session S and `open(S)` = its first candle's open
(`warehouse.queries.session_open_close`, by `time_key` as in §9), D+k = the ticker's k-th own trading
session after D (a day it has candles):

    ret_next_oc = (close(D+1) − open(D+1)) / open(D+1) × 100
    ret_next_cc = (close(D+1) − close(D)) / close(D) × 100
    ret_5d      = (close(D+5) − close(D)) / close(D) × 100

each null while its session does not exist yet (or when D itself has no candle in the warehouse).
Later sessions are looked for up to HORIZON_CALENDAR_DAYS after D: a ticker that trades fewer than
5 times in that window keeps a null `ret_5d` (bounds the scan of a backfill of an old date). The
prices themselves are stored too (`close_d`, `open_next`, `close_next`, `close_5d`): the report
applies the costs of the current settings to them (`outcome_stats.net_return`), so a fee change
needs no rebuild.

Tradability (SPEC §17), one check per entry price, both by `bounds.limit_at`:
- `lim`: the summary item's own flag — D's close (the entry of `ret_next_cc` and `ret_5d`) at ARA
  or ARB against the previous close (summary/build.py);
- `lim_next`: D+1's open (the entry of `ret_next_oc`, and the first price a trader acting on the
  final summary, published after the close, can get) at the limit against close(D), which is the
  reference price ([12]) of the ticker's next session.
A buy-family item whose entry is at ARA cannot be bought there (nobody sells), nor a sell-family
item sold at ARB; the report (`outcome_report`) leaves such entries out and counts them apart.

The partition of D is therefore built again as D+1..D+5 arrive (the asset's sensor requests D−5..D
after each final summary, `orderflow materialize` of a range builds every date of it);
`build_outcomes` replaces D's rows in one transaction and rewrites the lake file only when its bytes
change, so an unchanged re-run changes nothing.

Families: buy = STRONG_BUY, HIDDEN_ACCUM, WATCH_ACCUM, BUY (each says "expect up"); sell = SELL,
STRONG_SELL, TRAP_WARNING (heavy buying into smart-money selling is a warning of a fall).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal, TypedDict

import duckdb
import pyarrow as pa

from orderflow_pipeline.bounds import Limit, limit_at
from orderflow_pipeline.storage.keys import as_date, signal_outcomes_key, summary_key
from orderflow_pipeline.storage.lake import Lake, dumps
from orderflow_pipeline.warehouse import duck, queries

ASSET = "signal_outcomes"
HORIZON = 5  # ret_5d: the 5th own session after D
HORIZON_CALENDAR_DAYS = 45  # later sessions are looked for this far after D
BUY_FAMILY = ("STRONG_BUY", "HIDDEN_ACCUM", "WATCH_ACCUM", "BUY")
SELL_FAMILY = ("SELL", "STRONG_SELL", "TRAP_WARNING")
BASELINE = "NEUTRAL"
PRICE_COLUMNS = ("close_d", "open_next", "close_next", "close_5d")
LIMIT_COLUMNS = ("lim", "lim_next")
RETURNS = ("ret_next_oc", "ret_next_cc", "ret_5d")
COLUMNS = ("date", "ticker", "sig", "sc", *RETURNS, *PRICE_COLUMNS, *LIMIT_COLUMNS)
_SCHEMA = pa.schema(
    [("date", pa.date32()), ("ticker", pa.string()), ("sig", pa.string()), ("sc", pa.float64()),
     *[(c, pa.float64()) for c in RETURNS], *[(c, pa.int64()) for c in PRICE_COLUMNS],
     *[(c, pa.string()) for c in LIMIT_COLUMNS]]
)  # fmt: skip
# Each horizon's entry price, exit price and the flag that says whether its entry was tradable.
HORIZONS: dict[str, tuple[str, str, str]] = {
    "ret_next_oc": ("open_next", "close_next", "lim_next"),
    "ret_next_cc": ("close_d", "close_next", "lim"),
    "ret_5d": ("close_d", "close_5d", "lim"),
}

Family = Literal["buy", "sell", "baseline", "other"]


class Outcome(TypedDict):
    t: str
    sig: str
    sc: float | None
    ret_next_oc: float | None
    ret_next_cc: float | None
    ret_5d: float | None
    close_d: int | None
    open_next: int | None
    close_next: int | None
    close_5d: int | None
    lim: Limit | None
    lim_next: Limit | None


Session = tuple[date, int, int]  # (date, open, close)


def family(sig: str) -> Family:
    if sig in BUY_FAMILY:
        return "buy"
    if sig in SELL_FAMILY:
        return "sell"
    return "baseline" if sig == BASELINE else "other"


def blocked(sig: str, lim: str | None) -> bool:
    """Whether an entry at this limit cannot be filled for this signal: ARA for a buy (and for
    NEUTRAL, the "buy anything" baseline), ARB for a sell. The other limit does not block: a buyer
    at ARB finds sellers queued there."""
    return lim == ("ARB" if family(sig) == "sell" else "ARA")


def _pct(new: int | None, base: int | None) -> float | None:
    if new is None or not base:
        return None
    return (new - base) / base * 100.0


def _limit(value: Any) -> Limit | None:
    return value if value in ("ARA", "ARB") else None


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
            "close_d": close_d, "open_next": nxt[1] if nxt else None,
            "close_next": nxt[2] if nxt else None, "close_5d": fifth[2] if fifth else None,
            "lim": _limit(it.get("lim")),
            "lim_next": limit_at(close_d, nxt[1]) if nxt else None,
        })  # fmt: skip
    return out


@dataclass
class OutcomesResult:
    date: str
    summary_found: bool = False
    items: int = 0
    with_next: int = 0  # items whose ret_next_cc is known
    with_5d: int = 0
    at_limit: int = 0  # items with an entry at ARA or ARB (either flag)
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
    return build_outcomes_many(lake, con, [d])[0]


def _own_sessions(
    d: date, tickers: Iterable[str], by_ticker: Mapping[str, Sequence[Session]]
) -> dict[str, list[Session]]:
    """Each ticker's sessions in [D, D + HORIZON_CALENDAR_DAYS] (those with any), from sessions
    sorted by date: what one `session_open_close` over that window gives."""
    end = d + timedelta(days=HORIZON_CALENDAR_DAYS)
    out: dict[str, list[Session]] = {}
    for t in tickers:
        own = by_ticker.get(t, ())
        days = [s[0] for s in own]
        window = list(own[bisect_left(days, d) : bisect_right(days, end)])
        if window:
            out[t] = window
    return out


def build_outcomes_many(
    lake: Lake, con: duckdb.DuckDBPyConnection, dates: Iterable[date | str]
) -> list[OutcomesResult]:
    """`build_outcomes` of every date of `dates` (a backfill), each input read once: the
    summaries one file each, the sessions of all their tickers in one query, the rows replaced
    in one transaction and the changed lake files written together. Results in date order."""
    started = time.perf_counter()
    days = sorted({as_date(d) for d in dates})
    if not days:
        return []
    found = {d: _summary_items(lake, d) for d in days}
    tickers = sorted({str(i["t"]) for items in found.values() for i in items or ()})
    by_ticker: dict[str, list[Session]] = {}
    # ordered by ticker, date: each ticker's list is sorted by date, as `_own_sessions` needs
    for t, day, o, c in queries.session_open_close(
        con, tickers, days[0], days[-1] + timedelta(days=HORIZON_CALENDAR_DAYS)
    ):
        by_ticker.setdefault(t, []).append((day, o, c))
    results: list[OutcomesResult] = []
    tables: list[pa.Table] = []
    files: dict[str, bytes] = {}
    for d in days:
        res = OutcomesResult(date=d.isoformat(), summary_found=found[d] is not None)
        items = found[d] or []
        sessions = _own_sessions(d, sorted({str(i["t"]) for i in items}), by_ticker)
        rows = compute_outcomes(d, items, sessions)
        cols: dict[str, list[Any]] = {"date": [d] * len(rows), "ticker": [r["t"] for r in rows]}
        for col in COLUMNS[2:]:
            cols[col] = [r[col] for r in rows]  # type: ignore[literal-required]
        tables.append(pa.table(cols, schema=_SCHEMA))
        res.items = len(rows)
        res.with_next = sum(1 for r in rows if r["ret_next_cc"] is not None)
        res.with_5d = sum(1 for r in rows if r["ret_5d"] is not None)
        res.at_limit = sum(1 for r in rows if r["lim"] or r["lim_next"])
        traded_on_d = {t for t, own in sessions.items() if any(day == d for day, _, _ in own)}
        # complete: nothing left to fill in (an item without a D candle never gets returns from closes)
        res.complete = all(r["ret_5d"] is not None for r in rows if r["t"] in traded_on_d)
        if res.summary_found:
            doc = {"date": d.isoformat(), "count": len(rows), "complete": res.complete, "items": rows}
            files[signal_outcomes_key(d)] = dumps(doc)
        results.append(res)
    con.register("_so_new", pa.concat_tables(tables))
    try:

        def replace() -> None:  # keyed by date: runs writing other dates never touch these rows
            con.execute("DELETE FROM signal_outcomes WHERE date IN (SELECT unnest(?::DATE[]))", [days])
            con.execute(f"INSERT INTO signal_outcomes ({', '.join(COLUMNS)}) SELECT * FROM _so_new")

        duck.committed(con, replace)
    finally:
        con.unregister("_so_new")
    # Derived files, rebuilt from the table on the next run if lost: one batched, atomic write
    # of the changed ones (`Lake.write_many`), as the features layer writes its z-score files.
    old = lake.cat_many(files)
    changed = {k: v for k, v in files.items() if old.get(k) != v}
    lake.write_many(changed)
    seconds = (time.perf_counter() - started) / len(days)  # the batch's time, shared by its dates
    for res in results:
        res.file_written = signal_outcomes_key(res.date) in changed
        res.seconds = seconds
    return results


def export_select(where: str) -> str:
    """The export query of `signal_outcomes` (`export.py` supplies the date/ticker clause)."""
    return f"SELECT {', '.join(COLUMNS)} FROM signal_outcomes WHERE {where} ORDER BY date, ticker"
