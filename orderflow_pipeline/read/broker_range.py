"""One ticker's broker summary over a date range (the seed's `GET /range`, issue 19).

Sums the IPOT broker-summary files (SPEC §8 format) of the sessions in [start, end] per broker:
`bval`/`sval` in IDR and `blot`/`slot` in lots, as integers (the files hold integer strings; an
amount with a fraction is rounded half away from zero, never truncated), `net = bval − sval`.
A session is a date with a readable file of this ticker whose `bandar_detector.value` is not
zero/empty (§8: a zero-value file is a non-trading day); an unreadable file is no session here —
the features layer quarantines it and its checks say so.

A broker's `type` is the one its newest session reports (IPOT marks foreign brokers `Asing`).
Brokers are sorted by `net` descending, then `code`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypedDict

from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

MAX_RANGE_DAYS = 366


class BrokerRow(TypedDict):
    code: str
    type: str | None
    bval: int
    sval: int
    blot: int
    slot: int
    net: int


class RangeReport(TypedDict):
    symbol: str
    start: str
    end: str
    sessions: int
    brokers: list[BrokerRow]


def _int(value: Any) -> int:
    """An IPOT amount ("12345", 12345, "12.5") as an integer; ValueError when it is not a number."""
    try:
        return int(Decimal(str(value).strip() or "0").quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


@dataclass
class _Acc:
    type: str | None = None
    sums: dict[str, int] = field(default_factory=lambda: {"bval": 0, "sval": 0, "blot": 0, "slot": 0})


def _session_rows(doc: Any, symbol: str) -> list[tuple[str, str | None, dict[str, int]]] | None:
    """(code, type, amounts) of one file, or None when it is no session (zero value, unreadable,
    another symbol)."""
    if not isinstance(doc, Mapping):
        return None
    data = doc.get("data")
    if not isinstance(data, Mapping):
        return None
    bd = data.get("bandar_detector") or {}
    bs = data.get("broker_summary") or {}
    if not isinstance(bd, Mapping) or not isinstance(bs, Mapping):
        return None
    if str(bs.get("symbol", symbol)) != symbol:
        return None
    try:
        if _int(bd.get("value") or "0") == 0:
            return None
        rows: list[tuple[str, str | None, dict[str, int]]] = []
        for side, val, lot in (("brokers_buy", "bval", "blot"), ("brokers_sell", "sval", "slot")):
            for r in bs.get(side) or []:
                code = str(r["netbs_broker_code"]).strip()
                if code:
                    rows.append((code, r.get("type"), {val: _int(r.get(val)), lot: _int(r.get(lot))}))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return rows


def broker_range(lake: Lake, symbol: str, start: date, end: date) -> RangeReport:
    """Per-broker sums of `symbol`'s broker summaries for the dates in [start, end]."""
    keys.check_ticker(symbol)
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ValueError(f"range {start}..{end} spans more than {MAX_RANGE_DAYS} days")
    wanted = []
    for key in lake.list(f"raw-broksum/{symbol}/"):
        try:
            d = date.fromisoformat(key.rsplit("/", 1)[-1].removesuffix(".json"))
        except ValueError:
            continue
        if start <= d <= end and key == keys.broksum_key(symbol, d):
            wanted.append(key)
    acc: dict[str, _Acc] = {}
    sessions = 0
    for _key, body in sorted(lake.cat_many(wanted).items()):  # oldest first: the newest type wins
        try:
            doc = json.loads(body)
        except ValueError:
            continue
        rows = _session_rows(doc, symbol)
        if rows is None:
            continue
        sessions += 1
        for code, kind, amounts in rows:
            a = acc.setdefault(code, _Acc())
            if kind:
                a.type = str(kind)
            for k, v in amounts.items():
                a.sums[k] += v
    brokers: list[BrokerRow] = [
        {"code": code, "type": a.type, "bval": a.sums["bval"], "sval": a.sums["sval"],
         "blot": a.sums["blot"], "slot": a.sums["slot"], "net": a.sums["bval"] - a.sums["sval"]}
        for code, a in acc.items()
    ]  # fmt: skip
    brokers.sort(key=lambda b: (-b["net"], b["code"]))
    return {"symbol": symbol, "start": start.isoformat(), "end": end.isoformat(), "sessions": sessions,
            "brokers": brokers}  # fmt: skip
