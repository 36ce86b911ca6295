"""`orderflow fetch-broksum`: broker summaries over the IPOT WebSocket into `raw-broksum/` (issue 18).

For each ticker that traded on D (the lake's footprint hour files, else its tape) the fetcher
asks the `en_qu_top_bs` query of `../shared/IPOT.md` for both sides (`"b"`, `"s"`), merges the
answers per broker code and writes `raw-broksum/{T}/{D}.json` in the SPEC §8 format, byte for byte
the shape of `fixtures/real/raw-broksum/` (same keys, same order, numbers as strings).

Answer rows (`event: "record"`, the line in `data.data.en_qu_top_bs`, pipe-delimited):
`code | buy value | buy volume | buy freq | sell value | sell volume | sell freq | net value |
net volume | total value | total lot | …`, volumes in shares. A row whose code is the ticker
itself is the day's summary (`_meta.summary.raw`): value, shares and frequency of the day. How the
file is derived from the rows (each rule checked against the 11 real files):
- brokers_buy: every broker with buy shares > 0, value descending, code ascending on ties;
  `blot` = shares // 100, `blotv` = blot × 100, `bvalv` = `bval`, `netbs_buy_avg_price` =
  floor(value / shares) (shares including odd lots, so a few averages sit one rupiah below
  floor(bval / blotv), as in the real files); brokers_sell the same with the sell columns.
- `type` from the shipped broker table `data/idx_brokers.csv` (a code not in it: `Lokal`, reported).
- bandar_detector: `average` = floor(value / shares) of the summary row, `value`, `volume`,
  `frequency` from it; net per broker = buy − sell (value and shares); `top{1,3,5}` = Σ of the
  N largest net buyers (`bid_*`) and net sellers (`offer_*`, magnitudes); `total_buyer` /
  `total_seller` = brokers with net value > 0 / < 0; `accdist` from the top-5 sums b5, s5:
  b5 > 1.2·s5 "Big Akum", > 1.05·s5 "Akumulasi", s5 > 1.2·b5 "Big Dist", > 1.05·b5
  "Distribusi", else "Neutral".
- `_meta`: source "ipot", the summary row, and `integrity_check` (Σ bval vs the summary value;
  `match_likely` when their difference is below 1e8 IDR).

Never worse: a new file replaces an existing one only when it ranks at least as high
(`rank`: parses under `smart_money.parse_broksum`, is a trading day, the broker sides add up to
the summary, broker count). An empty or malformed answer is retried (`retries`, backoff with
jitter, a fresh connection), then reported in `FetchResult.failed`; the existing file stays.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from orderflow_pipeline.config import DEFAULT_IPOT_URL, Settings, get_settings
from orderflow_pipeline.layers.smart_money.broksum import parse_broksum
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.keys import as_date, broksum_key, check_ticker
from orderflow_pipeline.storage.lake import Lake, dumps

log = logging.getLogger(__name__)

ORIGIN = "https://indopremier.com"
MESSAGE = "Successfully retrieved market detector data (IPOT Proxy)"
INDEX = "en_qu_top_bs"
SIDES = ("b", "s")
# The original proxy's limits for one query: stop 800 ms after the last row, 1.2 s after the
# command when nothing came, 8 s overall; 150 ms after the command's response for late rows.
IDLE_S, EMPTY_IDLE_S, MAX_S, AFTER_RES_S = 0.8, 1.2, 8.0, 0.15
MATCH_TOLERANCE_IDR = 100_000_000
UNKNOWN_TYPE = "Lokal"


# --------------------------------------------------------------------------------------------
# The broker table


@dataclass(frozen=True)
class Broker:
    code: str
    name: str
    type: str  # "Asing" / "Lokal", as written into raw-broksum files
    category: str  # FOREIGN / INSTITUTION / RETAIL (informational, see the table's header)


def parse_brokers(text: str) -> dict[str, Broker]:
    """`code,name,type,category` rows (header required, `#` comments allowed) -> {code: Broker}."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")] != ["code", "name", "type", "category"]:
        raise ValueError("broker table must start with the header 'code,name,type,category'")
    out: dict[str, Broker] = {}
    for n, ln in enumerate(lines[1:], start=2):
        parts = [c.strip() for c in ln.split(",")]
        if len(parts) != 4 or not parts[0] or parts[2] not in ("Asing", "Lokal"):
            raise ValueError(f"broker table line {n}: expected 'code,name,Asing|Lokal,category', got {ln!r}")
        if parts[3] not in ("FOREIGN", "INSTITUTION", "RETAIL"):
            raise ValueError(f"broker table line {n}: bad category {parts[3]!r}")
        out[parts[0].upper()] = Broker(parts[0].upper(), parts[1], parts[2], parts[3])
    return out


@lru_cache(maxsize=1)
def default_brokers() -> Mapping[str, Broker]:
    text = resources.files("orderflow_pipeline").joinpath("data/idx_brokers.csv").read_text()
    return parse_brokers(text)


# --------------------------------------------------------------------------------------------
# Rows -> file


class AnswerError(ValueError):
    """An answer that cannot become a file (empty, malformed, no summary row)."""


@dataclass(frozen=True)
class Row:
    code: str
    bval: int
    bvol: int  # shares
    bfreq: int
    sval: int
    svol: int
    sfreq: int


def _int(s: str) -> int:
    t = s.replace(",", "").strip()
    if not t.isdigit():
        raise AnswerError(f"not a non-negative integer: {s!r}")
    return int(t)


def split_line(line: str) -> list[str]:
    parts = [p.strip() for p in line.split("|")]
    while parts and not parts[0]:
        parts.pop(0)
    return parts


def parse_row(line: str) -> Row:
    parts = split_line(line)
    if len(parts) < 7 or not parts[0]:
        raise AnswerError(f"row with {len(parts)} fields: {line[:120]!r}")
    return Row(parts[0].upper(), *(_int(p) for p in parts[1:7]))


@dataclass
class Answer:
    """The merged rows of one ticker and date (both sides)."""

    ticker: str
    summary: str | None = None  # the raw summary row with the largest value
    rows: dict[str, Row] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # rows that could not be read

    def add(self, lines: Iterable[str]) -> None:
        for line in lines:
            try:
                row = parse_row(line)
            except AnswerError as exc:
                self.bad.append(str(exc))
                continue
            if row.code == self.ticker:
                if self.summary is None or row.bval > parse_row(self.summary).bval:
                    self.summary = line
                continue
            old = self.rows.get(row.code)
            # One broker is one row in either side's answer; two different copies (a row updated
            # between the two queries) keep the larger of each figure, never their sum.
            self.rows[row.code] = (
                row
                if old is None
                else Row(row.code, *(max(a, b) for a, b in zip(_figures(old), _figures(row), strict=True)))
            )


def _figures(r: Row) -> tuple[int, ...]:
    return (r.bval, r.bvol, r.bfreq, r.sval, r.svol, r.sfreq)


def _side(
    answer: Answer, d: date, brokers: Mapping[str, Broker], buy: bool, unknown: set[str]
) -> list[dict[str, str]]:
    lot, amount, avg = (
        ("blot", "bval", "netbs_buy_avg_price") if buy else ("slot", "sval", "netbs_sell_avg_price")
    )
    rows = []
    for r in answer.rows.values():
        value, shares = (r.bval, r.bvol) if buy else (r.sval, r.svol)
        if shares <= 0:
            continue
        b = brokers.get(r.code)
        if b is None:
            unknown.add(r.code)
        lots = shares // 100
        rows.append(
            (
                -value,
                r.code,
                {
                    "netbs_broker_code": r.code,
                    "netbs_date": d.strftime("%Y%m%d"),
                    "netbs_stock_code": answer.ticker,
                    "type": b.type if b else UNKNOWN_TYPE,
                    lot: str(lots),
                    f"{lot}v": str(lots * 100),
                    amount: str(value),
                    f"{amount}v": str(value),
                    avg: str(value // shares),
                },
            )
        )
    return [x[2] for x in sorted(rows, key=lambda x: (x[0], x[1]))]


def _top(net: list[tuple[int, int]], n: int) -> tuple[int, int]:
    part = net[:n]
    return sum(abs(v) for v, _ in part), sum(abs(s) for _, s in part)


def _accdist(b5: int, s5: int) -> str:
    if b5 > s5 * 1.2:
        return "Big Akum"
    if b5 > s5 * 1.05:
        return "Akumulasi"
    if s5 > b5 * 1.2:
        return "Big Dist"
    if s5 > b5 * 1.05:
        return "Distribusi"
    return "Neutral"


def render(
    answer: Answer, d: date | str, brokers: Mapping[str, Broker] | None = None
) -> tuple[bytes, set[str]]:
    """The raw-broksum file of one merged answer, and the broker codes missing from the table.

    Raises AnswerError when the answer has no summary row and no broker row (an empty answer)."""
    dd = as_date(d)
    table = default_brokers() if brokers is None else brokers
    if answer.summary is None and not answer.rows:
        raise AnswerError("empty answer: no summary row and no broker row")
    unknown: set[str] = set()
    buy = _side(answer, dd, table, True, unknown)
    sell = _side(answer, dd, table, False, unknown)
    if answer.summary is not None:
        s = parse_row(answer.summary)
        tv, tvol, freq, raw = s.bval, s.bvol, s.bfreq, answer.summary
    else:  # no summary row: the day from the broker rows (each trade has one buying broker)
        rows = answer.rows.values()
        tv, tvol, freq, raw = (
            sum(r.bval for r in rows),
            sum(r.bvol for r in rows),
            sum(r.bfreq for r in rows),
            "",
        )
    avg = str(tv // tvol) if tvol > 0 else "0"
    net: dict[str, list[int]] = {}
    for r in answer.rows.values():
        x = net.setdefault(r.code, [0, 0])
        if r.bvol > 0:
            x[0] += r.bval
            x[1] += (r.bvol // 100) * 100
        if r.svol > 0:
            x[0] -= r.sval
            x[1] -= (r.svol // 100) * 100
    buyers = sorted(((v, s) for v, s in net.values() if v > 0), key=lambda t: -t[0])
    sellers = sorted(((v, s) for v, s in net.values() if v < 0), key=lambda t: t[0])
    tops = {}
    for n in (1, 3, 5):
        bv, bs = _top(buyers, n)
        sv, ss = _top(sellers, n)
        tops[f"top{n}"] = {"bid_val": str(bv), "bid_vol": str(bs), "offer_val": str(sv), "offer_vol": str(ss)}
    b5, s5 = _top(buyers, 5)[0], _top(sellers, 5)[0]
    buy_total = sum(int(r["bval"]) for r in buy)
    doc = {
        "message": MESSAGE,
        "data": {
            "from": dd.isoformat(),
            "to": dd.isoformat(),
            "bandar_detector": {
                "average": avg,
                "value": str(tv),
                "volume": str(tvol),
                "frequency": str(freq),
                "accdist": _accdist(b5, s5),
                **tops,
                "total_buyer": len(buyers),
                "total_seller": len(sellers),
            },
            "broker_summary": {"symbol": answer.ticker, "brokers_buy": buy, "brokers_sell": sell},
        },
        "_meta": {
            "source": "ipot",
            "summary": {
                "__summary": True,
                "stock_code": answer.ticker,
                "total_value": str(tv),
                "total_volume_shares": str(tvol),
                "total_freq": str(freq),
                "average_price": avg,
                "raw": raw,
            },
            "integrity_check": {
                "calculated_buy_val": str(buy_total),
                "summary_val": str(tv),
                "delta_val": str(tv - buy_total),
                "match_likely": tv - buy_total < MATCH_TOLERANCE_IDR,
            },
        },
    }
    return dumps(doc), unknown


def rank(data: bytes | None, ticker: str, d: date | str) -> tuple[int, int, int, int]:
    """How good a raw-broksum file is; a higher tuple is better, (0, 0, 0, 0) unreadable.

    (parses under the §8 parser, is a trading day, the sides add up to the summary, brokers)."""
    if data is None:
        return (0, 0, 0, 0)
    try:
        day = parse_broksum(data, ticker, d)
    except BroksumError:
        return (0, 0, 0, 0)
    if day is None:
        return (1, 0, 0, 0)
    try:
        check = json.loads(data).get("_meta", {}).get("integrity_check", {})
        match = 1 if check.get("match_likely", True) else 0
    except (ValueError, AttributeError):
        match = 0
    return (1, 1, match, day.brokers)


def write_if_not_worse(lake: Lake, ticker: str, d: date | str, data: bytes) -> str:
    """Write the file unless the lake holds a better one: 'written', 'unchanged' or 'kept'."""
    key = broksum_key(ticker, d)
    try:
        old: bytes | None = lake.read_bytes(key)
    except FileNotFoundError:
        old = None
    if old == data:
        return "unchanged"
    if old is not None and rank(data, ticker, d) < rank(old, ticker, d):
        return "kept"
    lake.write_bytes(key, data)
    return "written"


# --------------------------------------------------------------------------------------------
# Which tickers traded


def traded_tickers(lake: Lake, d: date | str) -> list[str]:
    """Tickers with a footprint hour file on D; without any, the RG-board tickers of D's tape."""
    fp = inventory.footprint_tickers(inventory.footprint_objects(lake, d))
    if fp:
        return sorted(fp)
    out: set[str] = set()
    keys = list(inventory.tape_objects(lake, d))
    for key, blob in lake.cat_many(keys).items():
        text = (gzip.decompress(blob) if key.endswith(".gz") else blob).decode("utf-8", "replace")
        for line in text.splitlines():
            try:
                raw = json.loads(line).get("raw", "")
                f = raw.split("|")
                if len(f) > 4 and f[4] == "RG":
                    out.add(check_ticker(f[3]))
            except (ValueError, AttributeError):
                continue  # the footprint layer quarantines bad lines; here they name no ticker
    return sorted(out)


# --------------------------------------------------------------------------------------------
# The WebSocket client


def query_date(d: date | str, style: str = "padded") -> str:
    """The date argument: `padded` (YYYY-MM-DD, the original) or `official` (YYYY-M-DD)."""
    dd = as_date(d)
    return dd.isoformat() if style == "padded" else f"{dd.year}-{dd.month}-{dd.day:02d}"


def build_url(url: str, token: str | None) -> str:
    if not token:
        return url
    return f"{url}{'&' if '?' in url else '?'}appsession={token}"


def record_line(frame: Mapping[str, Any]) -> str | None:
    """The answer row of a `record` frame (`data.data.en_qu_top_bs`, or a bare string)."""
    data = frame.get("data")
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping):
        inner = data.get("data")
        if isinstance(inner, Mapping) and isinstance(inner.get(INDEX), str):
            return str(inner[INDEX])
        if isinstance(inner, str):
            return inner
        if isinstance(data.get(INDEX), str):
            return str(data[INDEX])
    return None


class FeedError(RuntimeError):
    """The server refused or broke a query (NOSERVICE, error reply, closed socket)."""


@dataclass
class FetchConfig:
    url: str = DEFAULT_IPOT_URL
    token: str | None = None
    concurrency: int = 4  # connections, each with one query in flight
    retries: int = 3  # extra attempts per ticker
    backoff_s: float = 0.5
    date_style: str = "padded"
    idle_s: float = IDLE_S
    empty_idle_s: float = EMPTY_IDLE_S
    max_s: float = MAX_S

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> FetchConfig:
        """The feed's URL, token and date style come from `config.Settings` (the one reader of
        the environment, shared with `orderflow capture`); `overrides` are the CLI flags."""
        s = settings or get_settings()
        cfg = cls(url=s.ipot_url, token=s.ipot_token, date_style=s.ipot_date_style)
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


class _Session:
    """One SocketCluster connection: handshake, pings answered, one query at a time."""

    def __init__(self, cfg: FetchConfig) -> None:
        self.cfg = cfg
        self.ws: Any = None
        self.cid = 0

    async def open(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        self.ws = await connect(
            build_url(self.cfg.url, self.cfg.token), origin=Origin(ORIGIN), open_timeout=10, max_size=2**24
        )
        self.cid = 1
        await self.ws.send(json.dumps({"event": "#handshake", "data": {"authToken": None}, "cid": 1}))
        deadline = time.monotonic() + 10
        while True:
            frame = await self._recv(deadline - time.monotonic())
            if frame is not None and frame.get("rid") == 1:
                return

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:  # noqa: BLE001  a broken socket is being dropped anyway
                pass
            self.ws = None

    async def _recv(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON frame (pings answered), None on a non-JSON frame; TimeoutError at timeout."""
        if timeout <= 0:
            raise TimeoutError
        msg = await asyncio.wait_for(self.ws.recv(), timeout)
        if msg == "#1":
            await self.ws.send("#2")
            return None
        try:
            frame = json.loads(msg)
        except (TypeError, ValueError):
            return None
        return frame if isinstance(frame, dict) else None

    async def query(self, side: str, ticker: str, d: date) -> list[str]:
        self.cid += 1
        cid = cmdid = self.cid
        args = [
            side,
            ticker,
            "",
            "%",
            "%",
            query_date(d, self.cfg.date_style),
            query_date(d, self.cfg.date_style),
        ]
        param = {"source": "datafeed", "index": INDEX, "args": args}
        cmd = {"cmd": "query", "service": "midata", "param": param}
        await self.ws.send(json.dumps({"event": "cmd", "data": {"cmdid": cmdid, "param": cmd}, "cid": cid}))
        lines: list[str] = []
        start = last = time.monotonic()
        res_at: float | None = None
        while True:
            now = time.monotonic()
            limits = [start + self.cfg.max_s]
            limits.append(last + (self.cfg.idle_s if lines else self.cfg.empty_idle_s))
            if res_at is not None:
                limits.append(res_at + AFTER_RES_S)
            try:
                frame = await self._recv(min(limits) - now)
            except TimeoutError:
                return lines
            last = time.monotonic()
            if frame is None:
                continue
            data = frame.get("data")
            if isinstance(data, Mapping) and str(data.get("status", "")).upper() == "ERROR":
                raise FeedError(f"{ticker} {side}: {data.get('errmsg') or 'ERROR'}")
            if frame.get("event") == "record":
                line = record_line(frame)
                if line is not None:
                    lines.append(line)
            elif frame.get("rid") == cid or (
                frame.get("event") == "res" and isinstance(data, Mapping) and data.get("cmdid") == cmdid
            ):
                if isinstance(frame.get("error"), (str, Mapping)) and frame.get("error"):
                    raise FeedError(f"{ticker} {side}: {frame['error']}")
                res_at = last


@dataclass
class FetchResult:
    date: str
    tickers: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # a better file was already there
    failed: dict[str, str] = field(default_factory=dict)  # ticker -> last reason
    retried: int = 0
    unknown_brokers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "tickers": self.tickers,
            "written": len(self.written),
            "unchanged": len(self.unchanged),
            "kept": self.kept,
            "failed": self.failed,
            "retried": self.retried,
            "unknown_brokers": self.unknown_brokers,
            "seconds": round(self.seconds, 2),
        }

    @property
    def ok(self) -> bool:
        return not self.failed


async def fetch_async(
    lake: Lake,
    d: date | str,
    tickers: Sequence[str] | None = None,
    cfg: FetchConfig | None = None,
    brokers: Mapping[str, Broker] | None = None,
) -> FetchResult:
    dd = as_date(d)
    cfg = cfg or FetchConfig.from_settings()
    names = sorted({check_ticker(t) for t in tickers}) if tickers else traded_tickers(lake, dd)
    res = FetchResult(date=dd.isoformat(), tickers=len(names))
    t0 = time.monotonic()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in names:
        queue.put_nowait(t)
    unknown: set[str] = set()

    async def one(session: _Session, ticker: str) -> bytes:
        if session.ws is None:
            await session.open()
        answer = Answer(ticker)
        for side in SIDES:
            answer.add(await session.query(side, ticker, dd))
        if answer.bad and not answer.rows:
            raise AnswerError(f"malformed answer: {answer.bad[0]}")
        data, missing = render(answer, dd, brokers)
        if rank(data, ticker, dd)[0] == 0:
            raise AnswerError(f"answer renders an unreadable file: {_reason(data, ticker, dd)}")
        unknown.update(missing)
        return data

    async def worker() -> None:
        session = _Session(cfg)
        try:
            while True:
                try:
                    ticker = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                for attempt in range(cfg.retries + 1):
                    try:
                        data = await one(session, ticker)
                    except Exception as exc:  # noqa: BLE001  any failure of one ticker: retry, then report
                        reason = f"{type(exc).__name__}: {exc}"
                        await session.close()  # a fresh connection for the retry
                        if attempt == cfg.retries:
                            res.failed[ticker] = reason
                            log.warning(
                                "fetch-broksum %s %s failed after %d tries: %s",
                                ticker,
                                dd,
                                attempt + 1,
                                reason,
                            )
                            break
                        res.retried += 1
                        delay = cfg.backoff_s * 2**attempt
                        await asyncio.sleep(delay + random.uniform(0, delay))
                        continue
                    outcome = await asyncio.to_thread(write_if_not_worse, lake, ticker, dd, data)
                    {"written": res.written, "unchanged": res.unchanged, "kept": res.kept}[outcome].append(
                        ticker
                    )
                    break
        finally:
            await session.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(cfg.concurrency, len(names) or 1)))))
    res.unknown_brokers = sorted(unknown)
    if unknown:
        log.warning(
            "fetch-broksum %s: broker codes not in data/idx_brokers.csv (written as %s): %s",
            dd,
            UNKNOWN_TYPE,
            sorted(unknown),
        )
    for lst in (res.written, res.unchanged, res.kept):
        lst.sort()
    res.seconds = time.monotonic() - t0
    return res


def _reason(data: bytes, ticker: str, d: date) -> str:
    try:
        parse_broksum(data, ticker, d)
    except BroksumError as exc:
        return str(exc)
    return "ok"


def fetch_broksum(
    lake: Lake,
    d: date | str,
    tickers: Sequence[str] | None = None,
    cfg: FetchConfig | None = None,
    brokers: Mapping[str, Broker] | None = None,
) -> FetchResult:
    """Fetch and write D's broker summaries (see the module docstring); never raises per ticker."""
    return asyncio.run(fetch_async(lake, d, tickers, cfg, brokers))
