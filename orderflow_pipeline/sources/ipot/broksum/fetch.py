"""`orderflow fetch-broksum`: broker summaries over the IPOT WebSocket into `raw-broksum/`.

For each ticker that traded on D (the lake's footprint hour files, else its tape) the fetcher
asks the `en_qu_top_bs` query of `../shared/IPOT.md` for both sides (`"b"`, `"s"`) over the shared
`client.Connection`, merges the answers per broker code and writes `raw-broksum/{T}/{D}.json`
(`render`), never over a better file (`write`). An empty or malformed answer is retried
(`retries`, backoff with jitter, a fresh connection), then reported in `FetchResult.failed`; the
existing file stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from orderflow_pipeline.config import DEFAULT_IPOT_URL, Settings
from orderflow_pipeline.layers.smart_money.broksum import parse_broksum
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.broksum.brokers import UNKNOWN_TYPE, Broker
from orderflow_pipeline.sources.ipot.broksum.render import Answer, AnswerError, render
from orderflow_pipeline.sources.ipot.broksum.write import rank, write_if_not_worse
from orderflow_pipeline.sources.ipot.client import CommandError, Connection
from orderflow_pipeline.storage import inventory
from orderflow_pipeline.storage.keys import as_date, check_ticker
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger(__name__)

# The broker-summary client has always sent the web client's Origin (IPOT.md).
ORIGIN = "https://indopremier.com"
SIDES = ("b", "s")
# The original proxy's limits for one query: stop 800 ms after the last row, 1.2 s after the
# command when nothing came, 8 s overall; 150 ms after the command's response for late rows.
IDLE_S, EMPTY_IDLE_S, MAX_S, AFTER_RES_S = 0.8, 1.2, 8.0, 0.15
OPEN_TIMEOUT_S = 10.0
# websockets' own defaults, which fetch-broksum has always connected with (WebSocket pings every
# 20 s, 16 frames buffered).
KEEPALIVE_S, MAX_QUEUE = 20.0, 16


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


class FeedError(RuntimeError):
    """The server refused or broke a query (NOSERVICE, error reply, closed socket)."""


@dataclass
class FetchConfig:
    url: str = DEFAULT_IPOT_URL
    token: str | None = None
    concurrency: int = 4  # connections, each with one query in flight
    retries: int = 3  # extra attempts per ticker
    backoff_s: float = 0.5
    date_style: str = "padded"  # `padded` YYYY-MM-DD (the original) or `official` YYYY-M-DD
    idle_s: float = IDLE_S
    empty_idle_s: float = EMPTY_IDLE_S
    max_s: float = MAX_S

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> FetchConfig:
        """The feed's URL, token and date style from `config.Settings` (shared with `orderflow
        capture`); `overrides` are the CLI flags (None: not given)."""
        cfg = cls(url=settings.ipot_url, token=settings.ipot_token, date_style=settings.ipot_date_style)
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


class _Session:
    """A worker's connection, opened (and handshaken) on first use, one query at a time."""

    def __init__(self, cfg: FetchConfig) -> None:
        self.cfg = cfg
        self.conn: Connection | None = None

    async def query(self, side: str, ticker: str, d: date) -> list[str]:
        if self.conn is None:
            conn = await Connection.open(
                self.cfg.url,
                self.cfg.token,
                open_timeout=OPEN_TIMEOUT_S,
                origin=ORIGIN,
                keepalive_s=KEEPALIVE_S,
                max_queue=MAX_QUEUE,
            )
            self.conn = conn
            await conn.handshake(OPEN_TIMEOUT_S)
        param = P.broksum_query_param(side, ticker, d, pad_month=self.cfg.date_style == "padded")
        try:
            return await self.conn.query_records(
                param,
                idle_s=self.cfg.idle_s,
                empty_idle_s=self.cfg.empty_idle_s,
                max_s=self.cfg.max_s,
                after_reply_s=AFTER_RES_S,
            )
        except CommandError as exc:
            raise FeedError(f"{ticker} {side}: {exc}") from exc

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a broken socket is being dropped anyway
                await self.conn.close()
            self.conn = None


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
    tickers: Sequence[str] | None,
    cfg: FetchConfig,
    brokers: Mapping[str, Broker] | None = None,
) -> FetchResult:
    dd = as_date(d)
    names = sorted({check_ticker(t) for t in tickers}) if tickers else traded_tickers(lake, dd)
    res = FetchResult(date=dd.isoformat(), tickers=len(names))
    t0 = time.monotonic()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in names:
        queue.put_nowait(t)
    unknown: set[str] = set()

    async def one(session: _Session, ticker: str) -> bytes:
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
    tickers: Sequence[str] | None,
    cfg: FetchConfig,
    brokers: Mapping[str, Broker] | None = None,
) -> FetchResult:
    """Fetch and write D's broker summaries (see the module docstring); never raises per ticker."""
    return asyncio.run(fetch_async(lake, d, tickers, cfg, brokers))
