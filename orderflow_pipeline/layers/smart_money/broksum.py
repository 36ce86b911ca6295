"""One IPOT broker summary (`raw-broksum/{T}/{date}.json`, SPEC §8): parse it, or render one.

`parse_broksum` is total: whatever the bytes (deep nesting, NaN/Infinity literals, huge integers,
wrong types, binary data, an empty or truncated file) it returns a `BrokerDay`, None for a
non-trading day, or raises `BroksumError` whose message is the quarantine reason — never anything
else, so one file can never fail a run. A readable file must also be plausible
(`plausibility.check_day`).

`render_broksum` is its inverse for simulators and tests, so synthetic data goes through the same
parser as the real feed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

from orderflow_pipeline.layers.smart_money.categories import (
    SMART,
    broker_category,
    categories_digest,
    default_categories,
)
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.layers.smart_money.plausibility import check_amount, check_day
from orderflow_pipeline.storage.keys import as_date, check_ticker
from orderflow_pipeline.storage.lake import dumps

# Bump when the parser accepts or rejects differently: stored broker days carry it (with the
# category digest), so the next run re-parses every object under the new rules instead of keeping
# rows an older parser let through.
RULES_VERSION = 3  # 3: a broker code listed twice on one side quarantines the file (issue 29)

# A broker code appears once per side in every real IPOT summary. Twice on one side is either a
# replayed row (a paging or proxy retry: counted once) or one broker's flow split over two rows
# (summed); the file does not say which, and each guess moves sm_net differently. So the file is
# quarantined (SPEC §4: rejected input kept with its reason, never silently resolved) with a
# `duplicate_broker` reason naming the side and the code, which the layer's WARN repeats with
# the file's key. Summing silently (the behaviour before issue 29) would double-count a replay.

# (list, amount, average price) per side of data.broker_summary.
SIDES = (("brokers_buy", "bval", "netbs_buy_avg_price"), ("brokers_sell", "sval", "netbs_sell_avg_price"))
_INF = math.inf


def parse_digest(categories: Mapping[str, str]) -> str:
    """What a stored broker day was parsed under: the category table and the parser's rules."""
    return f"{categories_digest(categories)}.r{RULES_VERSION}"


@dataclass(frozen=True)
class BrokerDay:
    ticker: str
    date: date
    value: float  # total traded value, IDR (bandar_detector.value)
    vwap: float  # bandar_detector.average
    volume: float  # shares (bandar_detector.volume)
    sm_buy: float  # Σ bval of smart-money brokers
    sm_sell: float  # Σ sval of smart-money brokers
    brokers: int  # distinct broker codes on either side

    @property
    def sm_net(self) -> float:
        return self.sm_buy - self.sm_sell

    @property
    def ngr(self) -> float:
        return self.sm_net / self.value


@dataclass(frozen=True)
class BrokerSums:
    """What the broker rows of one file add up to."""

    sm_buy: float
    sm_sell: float
    buy_total: float
    sell_total: float
    brokers: int  # distinct codes on either side
    price_lo: float = _INF  # lowest broker average price of a row with a non-zero amount
    price_hi: float = -_INF


def _num(value: Any, what: str) -> float:
    """IPOT numbers are strings ("1442718361009"); ints and floats are accepted too. Finite or
    BroksumError (bool, object, "abc", "NaN", an integer beyond float range, "1e400")."""
    out = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            out = float(value)
        except OverflowError:
            pass
    elif isinstance(value, str) and value.strip():
        try:
            out = float(value.strip().replace(",", ""))
        except ValueError:
            pass
    if not math.isfinite(out):
        raise BroksumError(f"bad_number: {what}={_short(value)}")
    return out


def _short(value: Any, limit: int = 80) -> str:
    """repr of an offending value, clipped: a 5,000-digit number must not flood the log."""
    return _clip(repr(value), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _is_empty_value(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return True
        try:
            return float(s) == 0
        except ValueError:
            return False
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


class _SlowPath(Exception):
    """The fast broker-row pass met something unusual; the checked pass decides."""


# Broker codes already seen in canonical form (non-empty, stripped, upper case): a few hundred
# exist, and checking each of a file's ~70 codes again cost a fifth of the parse.
_CANONICAL: set[str] = set()
# The last category table's (its items, codes it names, codes it counts as smart money): one
# table per run, and two set look-ups per broker row instead of a dict get and a membership test.
# Keyed by the items themselves (not the object), so a table changed in place is never stale.
_SMART_OF: list[tuple[frozenset[tuple[str, str]], frozenset[str], frozenset[str]]] = []


def _code_sets(cats: Mapping[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    if _SMART_OF and _SMART_OF[0][0] == cats.items():
        return _SMART_OF[0][1], _SMART_OF[0][2]
    named = frozenset(c for c, cat in cats.items() if cat is not None)
    smart = frozenset(c for c, cat in cats.items() if cat is not None and cat in SMART)
    _SMART_OF[:] = [(frozenset(cats.items()), named, smart)]
    return named, smart


def _sums_fast(bs: Mapping[str, Any], cats: Mapping[str, str]) -> BrokerSums:
    """Broker sums for well-formed rows (the real feed), about as fast as a bare sum.

    Anything unusual (a missing field, a zero, negative or non-finite number, an unknown `type`, a
    code not in canonical form) raises _SlowPath (or KeyError/TypeError/...), and
    `_sums_checked` gives the answer or the precise reason; both agree on every well-formed file."""
    smart = [0.0, 0.0]
    totals = [0.0, 0.0]
    codes: set[str] = set()
    prices: list[float] = []
    named, smart_codes = _code_sets(cats)
    for k, (side, amount, avg) in enumerate(SIDES):
        rows = bs.get(side) or ()
        values = [float(r[amount]) for r in rows]
        prices += [float(r[avg]) for r in rows]
        side_codes = [r["netbs_broker_code"] for r in rows]
        if len(set(side_codes)) != len(side_codes):
            raise _SlowPath  # a code listed twice: the checked pass names it
        codes.update(side_codes)
        sm = 0.0
        for code, row, v in zip(side_codes, rows, values, strict=True):
            # = `cats.get(code)`: None -> by the row's type; else smart if its category is
            if code in smart_codes:
                sm += v
            elif code not in named:
                t = row.get("type")
                if t == "Asing":
                    sm += v
                elif t != "Lokal":
                    raise _SlowPath
        total = sum(values)
        if values and not (min(values) > 0.0 and total < _INF):  # NaN fails the comparison too
            raise _SlowPath
        smart[k], totals[k] = sm, total
    lo, hi = (min(prices), max(prices)) if prices else (_INF, -_INF)
    if prices and not (lo > 0.0 and math.isfinite(sum(prices))):  # a NaN or inf makes the sum non-finite
        raise _SlowPath
    new = codes - _CANONICAL
    if new:
        if any(not c or c != c.strip().upper() for c in new):
            raise _SlowPath
        if len(_CANONICAL) < 100_000:  # bounded whatever a feed sends
            _CANONICAL.update(new)
    return BrokerSums(smart[0], smart[1], totals[0], totals[1], len(codes), lo, hi)


def _sums_checked(bs: Mapping[str, Any], cats: Mapping[str, str]) -> BrokerSums:
    """Row-by-row validation with a precise reason for the quarantine."""
    smart = [0.0, 0.0]
    totals = [0.0, 0.0]
    codes: set[str] = set()
    lo, hi = _INF, -_INF
    for k, (side, amount, avg) in enumerate(SIDES):
        rows = bs.get(side) or []
        if not isinstance(rows, list):
            raise BroksumError(f"bad_broker_summary: '{side}' is not a list")
        seen: dict[str, int] = {}  # code -> its first row on this side
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise BroksumError(f"bad_broker_row: {side}[{i}] is not an object")
            code = row.get("netbs_broker_code")
            if not isinstance(code, str) or not code.strip():
                raise BroksumError(f"bad_broker_row: {side}[{i}] has no netbs_broker_code")
            v = check_amount(_num(row.get(amount), f"{side}[{i}].{amount}"), f"{side}[{i}].{amount}")
            price = row.get(avg)
            if v > 0 and price not in (None, ""):  # the average is optional; present, it must be a price
                p = _num(price, f"{side}[{i}].{avg}")
                if p <= 0:
                    raise BroksumError(
                        f"implausible_broker_average: {side}[{i}].{avg}={price!r} is not positive"
                    )
                lo, hi = min(lo, p), max(hi, p)
            canonical = code.strip().upper()
            if canonical in seen:
                raise BroksumError(
                    f"duplicate_broker: {side} lists code {_clip(canonical, 20)} twice "
                    f"({side}[{seen[canonical]}] and {side}[{i}]): a replay or a split row, unknowable"
                )
            seen[canonical] = i
            codes.add(canonical)
            totals[k] += v
            if broker_category(code.strip(), row.get("type"), cats) in SMART:
                smart[k] += v
    return BrokerSums(smart[0], smart[1], totals[0], totals[1], len(codes), lo, hi)


def _reject_constant(name: str) -> NoReturn:
    # Python's json reads NaN / Infinity / -Infinity; JSON does not have them and no price is one.
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _load(data: bytes | str) -> Any:
    try:
        # Strict UTF-8 decoding: json.loads decodes bytes with 'surrogatepass', measured ~1.5x slower.
        text = data if isinstance(data, str) else data.decode(json.detect_encoding(data))
        return _DECODER.decode(text)
    except RecursionError:
        raise BroksumError("bad_json: nested deeper than the parser's recursion limit") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, bad UTF-8, NaN, >4300 digits
        raise BroksumError(f"bad_json: {_clip(str(exc), 200)}") from None


def parse_broksum(
    data: bytes | str,
    ticker: str | None = None,
    d: date | str | None = None,
    categories: Mapping[str, str] | None = None,
) -> BrokerDay | None:
    """One IPOT broker summary -> BrokerDay; None for a non-trading day (value "0" or empty).

    `ticker`/`d` default to the summary's own `symbol` and `from` date (the lake key is the better
    source and the caller passes it). Raises BroksumError, and only BroksumError, with a short
    reason for anything that cannot be read or is not plausible.
    """
    try:
        return _parse(data, ticker, d, default_categories() if categories is None else categories)
    except BroksumError:
        raise
    except Exception as exc:  # a shape no rule foresaw: still this file's fault, never the run's
        raise BroksumError(f"unreadable: {type(exc).__name__}: {_clip(str(exc), 200)}") from exc


def _parse(
    data: bytes | str, ticker: str | None, d: date | str | None, cats: Mapping[str, str]
) -> BrokerDay | None:
    doc = _load(data)
    body = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        raise BroksumError("no_data: missing object 'data'")
    bd = body.get("bandar_detector")
    if not isinstance(bd, dict):
        raise BroksumError("no_bandar_detector: missing object 'data.bandar_detector'")
    if _is_empty_value(bd.get("value")):
        return None
    value = _num(bd.get("value"), "bandar_detector.value")
    vwap = _num(bd.get("average"), "bandar_detector.average")
    volume = _num(bd.get("volume"), "bandar_detector.volume") if bd.get("volume") not in (None, "") else 0.0
    bs = body.get("broker_summary")
    if bs is None:
        bs = {}
    if not isinstance(bs, dict):
        raise BroksumError("bad_broker_summary: 'data.broker_summary' is not an object")
    try:
        sums = _sums_fast(bs, cats)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, _SlowPath):
        sums = _sums_checked(bs, cats)
    symbol = bs.get("symbol")
    t = ticker or symbol
    if not isinstance(t, str):
        raise BroksumError("no_ticker: neither the key nor broker_summary.symbol names the ticker")
    if ticker and isinstance(symbol, str) and symbol.strip() and symbol.strip().upper() != ticker:
        # A summary filed under the wrong ticker would credit one name with another's flow.
        raise BroksumError(f"symbol_mismatch: key says {ticker}, broker_summary.symbol says {_short(symbol)}")
    try:
        t = check_ticker(t)
    except ValueError as exc:
        raise BroksumError(f"bad_ticker: {exc}") from None
    day = d if d is not None else body.get("from")
    try:
        dd = as_date(day)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BroksumError(f"no_date: {_short(day)}") from None
    span = {str(x) for x in (body.get("from"), body.get("to")) if x is not None and x != ""}
    if d is not None and span and span != {dd.isoformat()}:
        # The proxy answering with another day's data (stale cache) must not become this day's session.
        raise BroksumError(f"date_mismatch: key says {dd}, data.from/to say {sorted(span)}")
    check_day(
        value=value,
        vwap=vwap,
        volume=volume,
        buy_total=sums.buy_total,
        sell_total=sums.sell_total,
        sm_buy=sums.sm_buy,
        sm_sell=sums.sm_sell,
        price_lo=sums.price_lo,
        price_hi=sums.price_hi,
    )
    return BrokerDay(t, dd, value, vwap, volume, sums.sm_buy, sums.sm_sell, sums.brokers)


def render_broksum(
    ticker: str,
    d: date | str,
    value: int,
    vwap: int,
    brokers: Sequence[tuple[str, str, int, int]] = (),
) -> bytes:
    """The inverse of `parse_broksum`: an IPOT-shaped summary (all numbers as strings).

    `brokers` = (code, type "Asing"/"Lokal", bval, sval) rows. value 0 renders a non-trading day.
    The volume is value/vwap shares (at least 1 on a trading day), so the file is consistent.
    """
    dd = as_date(d)
    day = dd.strftime("%Y%m%d")
    px = str(int(vwap))
    volume = max(1, round(int(value) / max(int(vwap), 1))) if value else 0

    def side(amount: str, lot: str, avg: str, pick: int) -> list[dict[str, str]]:
        rows = []
        for code, type_, *vals in brokers:
            v = int(vals[pick])
            if v <= 0:
                continue
            lots = v // max(int(vwap) * 100, 1)
            rows.append(
                {
                    "netbs_broker_code": code,
                    "netbs_date": day,
                    "netbs_stock_code": ticker,
                    "type": type_,
                    lot: str(lots),
                    f"{lot}v": str(lots * 100),
                    amount: str(v),
                    f"{amount}v": str(v),
                    avg: px,
                }
            )
        return sorted(rows, key=lambda r: -int(r[amount]))

    doc = {
        "message": "Successfully retrieved market detector data (IPOT Proxy)",
        "data": {
            "from": dd.isoformat(),
            "to": dd.isoformat(),
            "bandar_detector": {
                "average": px if value else "0",
                "value": str(int(value)),
                "volume": str(volume),
            },
            "broker_summary": {
                "symbol": ticker,
                "brokers_buy": side("bval", "blot", "netbs_buy_avg_price", 0),
                "brokers_sell": side("sval", "slot", "netbs_sell_avg_price", 1),
            },
        },
        "_meta": {"source": "synthetic"},
    }
    return dumps(doc)
