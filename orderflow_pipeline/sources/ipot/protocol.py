"""IPOT SocketCluster v1 frames: the ONE encoder/decoder shared by the client (`client`, used by
`orderflow capture` and `fetch-broksum`) and `orderflow replay-server`. Protocol reference:
../shared/IPOT.md. Nothing here does I/O; the connection is `client.Connection`.

Every frame is one JSON text message, except the ping `#1` and its answer `#2`.

Client -> server
  handshake   {"event":"#handshake","data":{"authToken":null},"cid":1}
  command     {"event":"cmd","data":{"cmdid":N,"param":{...}},"cid":M}     N, M increasing
    LT subscription (global; no `code`, no `subsid`: with them the real server says NOSERVICE)
              param = {"cmd":"subscribe","service":"mi","rtype":"LT","subscribe":true}
    broker summary of one ticker, one side (SIDE "b" buyers or "s" sellers), one date
              param = {"cmd":"query","service":"midata","param":{"source":"datafeed",
                       "index":"en_qu_top_bs","args":[SIDE,TICKER,"","%","%",DATE,DATE]}}
              DATE as the official client writes it, `YYYY-M-DD` (month not zero-padded);
              `parse_query_date` also accepts the zero-padded form the original sent.
  pong        #2   (answer to every #1)

Server -> client
  handshake reply {"rid":1,"data":{"id":SID,"pingTimeout":MS,"isAuthenticated":false}}
  command reply   {"rid":M,"data":{"status":"OK","cmdid":N, ...}}                    success
                  {"rid":M,"data":{"status":"ERROR","errmsg":"NOSERVICE","cmdid":N}}  failure
  ping            #1
  trade           {"event":"stream","data":{"rtype":"LT","data":LINE}}
              or  {"event":"#publish","data":{"channel":"LT","rtype":"LT","data":LINE}}
              or  {"event":"stream","rtype":"LT","data":LINE}   (rtype at the top level)
                  LINE = the 20-field pipe string of SPEC §5 (`B|HHMMSS|0|TICKER|BOARD|...`).
  broker row      {"event":"record","data":{"cmdid":N,"index":"en_qu_top_bs","data":ROW}}
                  one per broker, then the command reply {"rid":M,"data":{"status":"OK",
                  "cmdid":N,"records":K}} ends the answer (K = number of record frames sent).
                  Also read: ROW under `data.data.en_qu_top_bs`, under `data.en_qu_top_bs`, or
                  `data` itself a string; and an answer end `{"event":"res","data":{"cmdid":N}}`
                  without `rid` (shapes the original broker-summary proxy accepted).
                  ROW, pipe-delimited, volumes in SHARES, values in IDR (integers):
                    0 broker code | 1 buy value | 2 buy volume | 3 buy freq | 4 sell value |
                    5 sell volume | 6 sell freq | 7 net value (buy-sell) | 8 net volume |
                    9 total value (buy+sell) | 10 total lot (buy+sell, lots)
                  The replay server sends, for side "b", the brokers with a buy value,
                  highest buy value first; for side "s" the brokers with a sell value, highest
                  sell value first; each row carries BOTH sides of that broker. The LAST record
                  of every non-empty answer is the ticker's summary row, whose field 0 is the
                  TICKER itself (not a broker code): `T|value|volume|freq|value|volume|freq|0|0|
                  2*value|2*lots` (the `_meta.summary.raw` of the SPEC §8 files), so a client can
                  rebuild `bandar_detector.value/volume/frequency/average`. A ticker-date without
                  a summary answers zero records and status OK. Freq fields are 0 when the lake's
                  file has no per-broker frequency (the §8 format has none).

Decoding never raises: `decode` returns a `Frame` whose `kind` says what it is, and `malformed`
for anything that is not valid JSON or whose trade payload is not a string. A `reply` or `other`
frame whose data says `"status":"ERROR"` (or carries `errmsg`) has that message in `error`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

PING = "#1"
PONG = "#2"
HANDSHAKE_CID = 1
BROKSUM_INDEX = "en_qu_top_bs"
LT_FIELDS = 20

FrameKind = Literal[
    "ping",
    "pong",
    "handshake",
    "handshake_reply",
    "command",
    "reply",
    "trade",
    "record",
    "other",
    "malformed",
]


@dataclass(frozen=True)
class Frame:
    """One decoded frame. Fields not meaningful for the kind are None/empty."""

    kind: FrameKind
    cid: int | None = None  # client call id (handshake, command)
    rid: int | None = None  # reply to call id
    cmdid: int | None = None
    param: dict[str, Any] = field(default_factory=dict)  # command param
    data: Any = None  # reply data, or the trade line / record row (str)
    error: str | None = None  # reply error message (e.g. "NOSERVICE"), or why malformed
    rtype: str | None = None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---- client -> server -----------------------------------------------------------------------
def handshake(cid: int = HANDSHAKE_CID) -> str:
    return _dumps({"event": "#handshake", "data": {"authToken": None}, "cid": cid})


def command(cmdid: int, cid: int, param: dict[str, Any]) -> str:
    return _dumps({"event": "cmd", "data": {"cmdid": cmdid, "param": param}, "cid": cid})


def subscribe_lt_param() -> dict[str, Any]:
    return {"cmd": "subscribe", "service": "mi", "rtype": "LT", "subscribe": True}


def subscribe_lt(cmdid: int, cid: int) -> str:
    return command(cmdid, cid, subscribe_lt_param())


def query_date(d: date, *, pad_month: bool = False) -> str:
    """`YYYY-M-DD` as the official client writes it (or `YYYY-MM-DD` with pad_month)."""
    return d.isoformat() if pad_month else f"{d.year}-{d.month}-{d.day:02d}"


_QDATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_query_date(s: str) -> date:
    """`YYYY-M-DD`, `YYYY-MM-DD` or `YYYY-M-D`; ValueError otherwise."""
    m = _QDATE.match(s.strip())
    if not m:
        raise ValueError(f"not a query date: {s!r}")
    return date(int(m[1]), int(m[2]), int(m[3]))


def broksum_query_param(side: str, ticker: str, d: date, *, pad_month: bool = False) -> dict[str, Any]:
    if side not in ("b", "s"):
        raise ValueError(f"side must be 'b' or 's', got {side!r}")
    ds = query_date(d, pad_month=pad_month)
    return {
        "cmd": "query",
        "service": "midata",
        "param": {"source": "datafeed", "index": BROKSUM_INDEX, "args": [side, ticker, "", "%", "%", ds, ds]},
    }


def broksum_query(cmdid: int, cid: int, side: str, ticker: str, d: date, *, pad_month: bool = False) -> str:
    return command(cmdid, cid, broksum_query_param(side, ticker, d, pad_month=pad_month))


@dataclass(frozen=True)
class BroksumQuery:
    side: str
    ticker: str
    date: date


def parse_broksum_query(param: dict[str, Any]) -> BroksumQuery | None:
    """The (side, ticker, date) of an en_qu_top_bs query param; None if it is not one (or is bad)."""
    inner = param.get("param")
    if param.get("cmd") != "query" or not isinstance(inner, dict) or inner.get("index") != BROKSUM_INDEX:
        return None
    args = inner.get("args")
    if not isinstance(args, list) or len(args) < 7 or not all(isinstance(a, str) for a in args[:7]):
        return None
    try:
        return BroksumQuery(side=args[0], ticker=args[1], date=parse_query_date(args[5]))
    except ValueError:
        return None


def is_lt_subscribe(param: dict[str, Any]) -> bool:
    return param.get("cmd") == "subscribe" and param.get("rtype") == "LT"


# ---- server -> client -----------------------------------------------------------------------
def handshake_reply(rid: int, sid: str, ping_timeout_ms: int = 20000) -> str:
    return _dumps({"rid": rid, "data": {"id": sid, "pingTimeout": ping_timeout_ms, "isAuthenticated": False}})


def reply(rid: int, cmdid: int | None = None, **extra: Any) -> str:
    data: dict[str, Any] = {"status": "OK"}
    if cmdid is not None:
        data["cmdid"] = cmdid
    data.update(extra)
    return _dumps({"rid": rid, "data": data})


def error_reply(rid: int, errmsg: str = "NOSERVICE", cmdid: int | None = None) -> str:
    data: dict[str, Any] = {"status": "ERROR", "errmsg": errmsg}
    if cmdid is not None:
        data["cmdid"] = cmdid
    return _dumps({"rid": rid, "data": data})


TradeStyle = Literal["stream", "publish", "flat"]


def trade(line: str, style: TradeStyle = "stream") -> str:
    """An LT frame carrying one pipe line, in one of the three shapes the feed is known to use."""
    if style == "publish":
        return _dumps({"event": "#publish", "data": {"channel": "LT", "rtype": "LT", "data": line}})
    if style == "flat":
        return _dumps({"event": "stream", "rtype": "LT", "data": line})
    return _dumps({"event": "stream", "data": {"rtype": "LT", "data": line}})


def malformed(n: int) -> str:
    """A malformed frame for fault injection: odd n non-JSON text, even n an LT frame whose data is
    not a string. `decode` classifies both as `malformed`."""
    if n % 2:
        return '{"event":"stream","data":{"rtype":"LT","data":'
    return _dumps({"event": "stream", "data": {"rtype": "LT", "data": 12345}})


def record(cmdid: int, row: str, index: str = BROKSUM_INDEX) -> str:
    return _dumps({"event": "record", "data": {"cmdid": cmdid, "index": index, "data": row}})


# ---- decoding -------------------------------------------------------------------------------
def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def decode(text: str | bytes) -> Frame:
    """Classify one message. Never raises."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return Frame("malformed", error="binary frame that is not UTF-8")
    if text == PING:
        return Frame("ping")
    if text == PONG:
        return Frame("pong")
    try:
        obj = json.loads(text)
    except ValueError:
        return Frame("malformed", error=f"not JSON: {text[:80]!r}")
    if not isinstance(obj, dict):
        return Frame("malformed", error=f"not a JSON object: {text[:80]!r}")
    event = obj.get("event")
    data = obj.get("data")
    if event == "#handshake":
        return Frame("handshake", cid=_int(obj.get("cid")))
    if event == "cmd":
        if not isinstance(data, dict) or not isinstance(data.get("param"), dict):
            return Frame("malformed", error="cmd without data.param")
        return Frame("command", cid=_int(obj.get("cid")), cmdid=_int(data.get("cmdid")), param=data["param"])
    if event in ("stream", "#publish"):
        rtype = obj.get("rtype")
        payload: Any = data
        if isinstance(data, dict):
            rtype = data.get("rtype", rtype)
            payload = data.get("data")
        if rtype != "LT":
            return Frame("other", rtype=str(rtype) if rtype is not None else None, error=_data_error(data))
        if not isinstance(payload, str):
            return Frame("malformed", rtype="LT", error=f"LT frame whose data is not a string: {text[:80]!r}")
        return Frame("trade", rtype="LT", data=payload)
    if event == "record":
        row = _record_row(data)
        if row is None:
            return Frame("malformed", error="record without a string row")
        return Frame("record", cmdid=_int(data.get("cmdid")) if isinstance(data, dict) else None, data=row)
    rid = _int(obj.get("rid"))
    if rid is not None or event == "res":
        err: str | None = None
        if isinstance(obj.get("error"), (str, dict)):
            err = str(obj["error"])
        err = _data_error(data) or err
        if (
            rid is not None
            and isinstance(data, dict)
            and data.get("id") is not None
            and "pingTimeout" in data
        ):
            return Frame("handshake_reply", rid=rid, data=data)
        return Frame(
            "reply",
            rid=rid,
            cmdid=_int(data.get("cmdid")) if isinstance(data, dict) else None,
            data=data,
            error=err,
        )
    return Frame("other", error=_data_error(data))


def _data_error(data: Any) -> str | None:
    """The error message of a frame whose data says it failed, else None."""
    if isinstance(data, dict) and (str(data.get("status", "")).upper() == "ERROR" or data.get("errmsg")):
        return str(data.get("errmsg") or "ERROR")
    return None


def _record_row(data: Any) -> str | None:
    """The row of a `record` frame, in any of the shapes the feed is known to use."""
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return None
    inner = data.get("data")
    if isinstance(inner, dict) and isinstance(inner.get(BROKSUM_INDEX), str):
        return str(inner[BROKSUM_INDEX])
    if isinstance(inner, str):
        return inner
    if isinstance(data.get(BROKSUM_INDEX), str):
        return str(data[BROKSUM_INDEX])
    return None


def line_problem(line: str) -> str | None:
    """Why an LT line does not look like a SPEC §5 trade (None when it does). Such a line is still
    stored unchanged (the footprint layer quarantines it); the capture counts and reports it."""
    parts = line.split("|")
    if len(parts) != LT_FIELDS:
        return f"{len(parts)} fields, expected {LT_FIELDS}"
    if parts[0] != "B":
        return f"record type {parts[0]!r}, expected 'B'"
    hhmmss = parts[1]
    if len(hhmmss) != 6 or not hhmmss.isdigit():
        return f"bad trade time {hhmmss!r}"
    return None


def trade_seconds(line: str) -> int | None:
    """Seconds since WIB midnight of an LT line's trade time, or None."""
    parts = line.split("|", 3)
    if len(parts) < 3:
        return None
    t = parts[1]
    if len(t) != 6 or not t.isdigit():
        return None
    h, m, s = int(t[:2]), int(t[2:4]), int(t[4:])
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s
