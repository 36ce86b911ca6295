"""Today's footprint and summary, kept current from the trade lines as they arrive (SPEC §16).

Why it recomputes instead of updating: the rules of §5/§6 (de-duplication by trade number,
session classification, order-number aggressor, tick-rule fallback in (trade time, trade number)
order, OHLC by that order, levels) live once, in `tape.load_tape` and the footprint layer's
aggregation (`build.hour_bodies`). A ticker whose lines changed has its whole day re-derived
through exactly those functions on an in-memory DuckDB, so a late trade re-derives everything it
changes and a live candle is, byte for byte, the line the footprint layer would write from the
same lines. Python only routes lines to their ticker and diffs the results.

The summary is the lake path's (`summary.build.summary_from_objects`) over the live hour bodies
with the §8 context loaded once per day, so a live item is the batch item of the same candles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.layers.footprint.build import hour_bodies
from orderflow_pipeline.layers.summary.build import summary_from_objects
from orderflow_pipeline.layers.summary.context import Context
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.keys import WIB

UTC_HOUR = 3_600_000


def route(line: bytes) -> tuple[str, str] | None:
    """(ticker field [3], raw line) of one envelope line, or None when the line has no ticker.

    Only routing: a line that cannot be routed cannot become a trade either (the tape parser
    rejects it), so dropping it here changes no candle."""
    try:
        raw = json.loads(line).get("raw")
    except (ValueError, AttributeError):
        return None
    if not isinstance(raw, str):
        return None
    fields = raw.split("|", 6)
    return (fields[3], raw) if len(fields) > 3 and fields[3] else None


def trade_number(raw: str) -> int | None:
    """Field [5] as the integer the tape parser compares ("074313" and "74313" are one trade)."""
    fields = raw.split("|", 6)
    return int(fields[5]) if len(fields) > 5 and fields[5].isdigit() else None


@dataclass
class Changes:
    """What one recompute changed: candles as (ticker, candle) and items, in output order."""

    candles: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    removed_items: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.candles or self.items or self.removed_items)


class LiveEngine:
    """The live state of one trading date. Not thread-safe: the service owns it (`live.service`)."""

    def __init__(self, day: date, ctx: Context | None = None) -> None:
        self.day = day
        self.ctx = ctx or Context.none()
        self._lines: dict[str, list[bytes]] = {}  # ticker -> envelope lines in arrival order
        self._by_no: dict[str, dict[int, int]] = {}  # ticker -> trade number -> first line's index
        self._dirty: set[str] = set()
        self._bodies: dict[str, dict[int, str]] = {}  # ticker -> UTC hour ms -> hour file body
        self._candles: dict[str, dict[int, dict[str, Any]]] = {}  # ticker -> t0 -> §6 candle
        self._trades: dict[str, tuple[int, int]] = {}  # ticker -> (trades after dedupe, newest secs)
        self._items: dict[str, dict[str, Any]] = {}
        self.summary: dict[str, Any] | None = None
        self.lines = 0  # lines received (any kind, duplicates included)
        self.duplicates = 0  # lines dropped at once as a trade already held (`add`)
        self._con = duckdb.connect()

    def close(self) -> None:
        self._con.close()

    # -- input --------------------------------------------------------------------------------
    def add(self, data: bytes) -> int:
        """Take envelope lines (complete lines, each ending in a newline); returns how many.

        De-duplication by trade number happens here, before the line is kept: the same trade
        reaches a replica several times (the stream and the lake, a stream read again after a
        broker restart, a feed replay), and keeping every copy would make each recompute and the
        memory grow with the copies. A line whose (ticker, trade number) is held already *with
        the same raw text* is dropped: identical text means identical validity and fields, so
        the tape parser's "first copy wins" (§5) would drop it too. A copy with different text
        is kept and left to that rule, which alone knows which copy is valid."""
        n = 0
        for line in data.splitlines(keepends=True):
            if not line.strip():
                continue
            n += 1
            routed = route(line)
            if routed is None:
                continue
            t, raw = routed
            lines = self._lines.setdefault(t, [])
            no = trade_number(raw)
            if no is not None:
                held = self._by_no.setdefault(t, {})
                first = held.get(no)
                if first is None:
                    held[no] = len(lines)
                elif (r := route(lines[first])) is not None and r[1] == raw:
                    self.duplicates += 1
                    continue
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            self._dirty.add(t)
        self.lines += n
        return n

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    # -- recompute ----------------------------------------------------------------------------
    def recompute(self, *, now: datetime | None = None) -> Changes:
        """Re-derive the changed tickers' days through the footprint layer's own functions and the
        summary through the summary layer's; returns what changed."""
        out = Changes()
        if not self._dirty:
            return out
        tickers = sorted(self._dirty)
        self._dirty.clear()
        # one object per ticker: dedupe and the tick rule partition by ticker anyway, and within
        # an object "first copy wins" follows arrival order, as it follows key order in the lake
        tape.load_tape(self._con, self.day, [b"".join(self._lines[t]) for t in tickers])
        bodies: dict[str, dict[int, str]] = {t: {} for t in tickers}
        for t, h, _, body in hour_bodies(self._con):
            bodies[t][h] = body
        counts = self._con.execute(
            f"SELECT ticker, count(*), max(secs) FROM {tape.TRADES_TABLE} GROUP BY ticker"
        ).fetchall()
        for t in tickers:
            self._trades.pop(t, None)
        for t, n, secs in counts:
            self._trades[str(t)] = (int(n), int(secs))
        for t in tickers:
            new: dict[int, dict[str, Any]] = {}
            for body in bodies[t].values():
                for text in body.splitlines():
                    c = json.loads(text)
                    new[int(c["t0"])] = c
            old = self._candles.get(t, {})
            out.candles += [(t, c) for t0, c in sorted(new.items()) if old.get(t0) != c]
            self._bodies[t] = bodies[t]
            self._candles[t] = new
        self._rescore(out, now)
        return out

    def _rescore(self, out: Changes, now: datetime | None) -> None:
        objects = {
            keys.footprint_key(t, _hour(h)): body.encode()
            for t, hours in self._bodies.items()
            for h, body in hours.items()
        }
        doc: dict[str, Any] = dict(summary_from_objects(self.day, objects, self.ctx, now=now))
        doc["source"] = "live"
        items = {i["t"]: i for i in doc["items"]}
        out.items += [i for t, i in items.items() if self._items.get(t) != i]
        out.removed_items += sorted(set(self._items) - set(items))
        self._items = items
        self.summary = doc

    # -- reads --------------------------------------------------------------------------------
    def candles(self, ticker: str) -> list[dict[str, Any]]:
        return [c for _, c in sorted(self._candles.get(ticker, {}).items())]

    @property
    def held(self) -> int:
        """Lines kept for recomputes (received minus dropped duplicates and unroutable lines)."""
        return sum(len(v) for v in self._lines.values())

    @property
    def trades(self) -> int:
        return sum(n for n, _ in self._trades.values())

    def newest_trade_time(self) -> str | None:
        """WIB ISO time of the newest trade (by trade time), None before the first."""
        if not self._trades:
            return None
        secs = max(s for _, s in self._trades.values())
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=WIB)
        return (start + timedelta(seconds=secs)).isoformat()


def _hour(hour_ms: int) -> datetime:
    return datetime.fromtimestamp(hour_ms / 1000, tz=WIB)
