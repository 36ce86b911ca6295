"""The read side's output shapes, each typed once and built by one function.

Why: the §6 candle, the §10 item and document and the NO_DATA answer used to be written out as
dict literals in several modules (warehouse, API, summary, fallback), so a field added or renamed
in one place could silently differ in another. Every producer now calls the builder here, and the
API's pydantic models (`api.models`) are checked against these TypedDicts by a test, so the
OpenAPI schema cannot drift from what is actually served.

The shapes are plain dicts at run time (TypedDict), because they go straight to JSON; the types
exist for mypy and for that test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from typing import Literal, TypedDict

Status = Literal["OK", "FALLBACK", "NO_DATA"]
Source = Literal["warehouse", "lake"]


# -- §6 footprint candle ----------------------------------------------------------------------------


class Ohlc(TypedDict):
    o: int
    h: int
    l: int  # noqa: E741 - the §6 field name
    c: int


class Level(TypedDict):
    p: int
    bv: int
    av: int


class Candle(TypedDict):
    t0: int
    ohlc: Ohlc
    vol: int
    delta: int
    levels: list[Level]


def candle(
    t0: int, o: int, h: int, low: int, c: int, vol: int, delta: int, levels: Iterable[tuple[int, int, int]]
) -> Candle:
    """One §6 candle; `levels` are (price, bv, av) triples, kept in the order given (callers pass
    them sorted by price, as both the warehouse and the validator hold them)."""
    return {
        "t0": int(t0),
        "ohlc": {"o": int(o), "h": int(h), "l": int(low), "c": int(c)},
        "vol": int(vol),
        "delta": int(delta),
        "levels": [{"p": int(p), "bv": int(bv), "av": int(av)} for p, bv, av in levels],
    }


# -- §10 summary item and document ---------------------------------------------------------------------


class SummaryItem(TypedDict):
    t: str
    d: float
    p: float
    v: int
    h: int
    l: int  # noqa: E741 - the §10 field name
    r: int
    f: float
    div: float
    ctx_net: float | None
    ctx_st: str | None
    sc: float
    sig: str
    vel: float
    vel_accel: float
    val: int  # traded value, Rp (estimated from the candles: liquidity.py)
    ins: str  # instrument kind from the ticker's form (liquidity.instrument)


def summary_item(
    *,
    t: str,
    d: float,
    p: float,
    v: int,
    h: int,
    low: int,
    r: int,
    f: float,
    div: float,
    ctx_net: float | None,
    ctx_st: str | None,
    sc: float,
    sig: str,
    vel: float,
    vel_accel: float,
    val: int,
    ins: str,
) -> SummaryItem:
    """One §10 item (values already rounded for output by `scoring.round_js`); `val` and `ins`
    (issue 27) let a reader filter the ranking by liquidity and instrument kind."""
    return {
        "t": t, "d": d, "p": p, "v": int(v), "h": int(h), "l": int(low), "r": int(r), "f": f, "div": div,
        "ctx_net": ctx_net, "ctx_st": ctx_st, "sc": sc, "sig": sig, "vel": vel, "vel_accel": vel_accel,
        "val": int(val), "ins": ins,
    }  # fmt: skip


class SummaryDocument(TypedDict):
    status: Status
    date: str
    generated_at: str | None
    source: Source | None
    ctx_date: str | None
    ctx_found: bool
    count: int
    reason: str | None
    message: str | None
    items: list[SummaryItem]


# `from` is a Python keyword, so the range endpoint's two extra keys use the functional form.
_RangeBounds = TypedDict("_RangeBounds", {"from": str, "to": str})


class RangeDocument(SummaryDocument, _RangeBounds):
    """`GET /footprint/range`: the §10 document plus the range asked for."""


def iso_utc(now: datetime | None = None) -> str:
    """`generated_at` format: UTC, seconds, trailing Z (2026-02-06T03:05:12Z)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_document(
    d: date,
    items: Sequence[SummaryItem],
    *,
    status: Status | None = None,
    generated_at: str | None,
    source: Source | None,
    ctx_date: date | str | None,
    ctx_found: bool,
    reason: str | None = None,
    message: str | None = None,
) -> SummaryDocument:
    """The §10 document. `status` defaults to OK with items and NO_DATA without; `count` is
    always the number of items (it is never passed, so it cannot disagree)."""
    items = list(items)
    if status is None:
        status = "OK" if items else "NO_DATA"
    return {
        "status": status,
        "date": d.isoformat(),
        "generated_at": generated_at,
        "source": source,
        "ctx_date": ctx_date.isoformat() if isinstance(ctx_date, date) else ctx_date,
        "ctx_found": bool(ctx_found),
        "count": len(items),
        "reason": reason,
        "message": message,
        "items": items,
    }


def no_data_document(
    d: date,
    *,
    reason: str,
    message: str,
    generated_at: str | None,
    source: Source | None = None,
    ctx_date: date | str | None = None,
    ctx_found: bool = False,
) -> SummaryDocument:
    """NO_DATA: no items, a machine-readable `reason` and a sentence for the banner."""
    return summary_document(
        d, [], status="NO_DATA", generated_at=generated_at, source=source, ctx_date=ctx_date,
        ctx_found=ctx_found, reason=reason, message=message,
    )  # fmt: skip


def range_document(doc: SummaryDocument, start: date, end: date) -> RangeDocument:
    """The range endpoint's document: `doc` plus the range asked for (`from`, `to`)."""
    return {**doc, "from": start.isoformat(), "to": end.isoformat()}


def fallback_document(doc: SummaryDocument, d: date, sessions_ago: int) -> SummaryDocument:
    """SPEC §11 L1: a previous session's document served as FALLBACK, saying which and how old."""
    items = list(doc["items"])
    return {
        **doc,
        "status": "FALLBACK",
        "date": d.isoformat(),
        "count": len(items),
        "reason": f"Using {d.isoformat()} ({sessions_ago} trading day(s) ago)",
        "message": doc.get("message"),
        "items": items,
    }
