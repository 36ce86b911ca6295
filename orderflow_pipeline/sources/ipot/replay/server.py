"""`orderflow replay-server`: serve one lake day (simulated or captured) over the IPOT protocol.

The frames are those of `orderflow_pipeline.sources.ipot.protocol` (its docstring lists every query and
answer frame, including the `en_qu_top_bs` broker-summary answer built from the lake's
`raw-broksum/{T}/{D}.json`). What the server does on a connection:

- answers `#handshake` with the handshake reply, sends `#1` pings every `ping_interval` seconds
  (and closes a connection that has not answered `#2` within `pingTimeout`);
- answers an LT subscription with OK, then streams the day's trade lines in trade order
  ((trade time, trade number), each distinct line once) at `speed` times real speed, or at a
  fixed `rate` of trades per wall second (a load test: the exchange's peak, 10x it), cycling the
  three LT frame shapes (`stream`, `#publish`, rtype at the top level);
- with `send_log`, appends `{wall ns}\t{raw line}` for each trade's first send (replays are not
  logged), flushed per batch, so a test can time a trade from the moment the feed sent it;
- answers an `en_qu_top_bs` query with one `record` frame per broker and the summary row, then
  the command reply (status OK, `records` = K); any other command gets a plain OK.

The feed clock is shared by all connections and advances only while at least one client is
subscribed, so a client that reconnects resumes where the stream was; on every subscription after
the first the last `replay_last` trades already sent are sent again first (the real feed replays
trades after a reconnect; SPEC §5 counts each once).

Fault switches (all off by default):
- `drop_every` N s: the server closes each subscribed connection N seconds after it subscribed;
- `noservice` M: the first M LT subscriptions (M < 0: all) get `{"status":"ERROR","errmsg":"NOSERVICE"}`;
- `malformed_every` N: after every N-th trade frame, a malformed frame (alternately non-JSON
  text and an LT frame whose data is not a string);
- `token`: only connections whose `appsession` query parameter equals it are accepted (HTTP 403
  otherwise), to exercise the capture's token refresh;
- `stall_after` S / `stall_for` T: after S seconds of streaming, no trades for T seconds (pings go on).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.replay")


@dataclass
class ReplayConfig:
    date: date
    speed: float = 60.0  # trade-time seconds per wall second; <= 0: as fast as possible
    rate: float = 0.0  # > 0: this many trades per wall second, whatever their trade times
    send_log: str | None = None  # file the first send of each trade is logged to (wall ns, raw)
    host: str = "127.0.0.1"
    port: int = 8765
    ping_interval: float = 10.0
    ping_timeout_ms: int = 20000
    replay_last: int = 0
    drop_every: float = 0.0
    noservice: int = 0
    malformed_every: int = 0
    stall_after: float = 0.0
    stall_for: float = 0.0
    token: str | None = None  # when set, a connection whose `appsession` differs gets HTTP 403
    batch_max: int = 200  # trades sent per wake-up at most (keeps pings and queries flowing)


@dataclass(order=True)
class _Trade:
    sec: int
    no: int
    line: str = field(compare=False)


def _trade_no(line: str) -> int:
    parts = line.split("|")
    try:
        return int(parts[5])
    except (IndexError, ValueError):
        return 0


def load_day(lake: Lake, d: date) -> list[str]:
    """The distinct trade lines of date d's tape objects, in (trade time, trade number) order.

    Lines that are not JSON envelopes with a string `raw` are skipped (the footprint layer
    quarantines them on the original lake); a raw line without a readable time sorts last."""
    seen: set[str] = set()
    trades: list[_Trade] = []
    objs = tape_objects(lake, d)
    blobs = lake.cat_many(list(objs))
    for key in objs:
        data = blobs.get(key)
        if data is None:
            continue
        if key.endswith(".gz"):
            import gzip

            try:
                data = gzip.decompress(data)
            except OSError:
                continue
        for raw_line in data.splitlines():
            try:
                env = json.loads(raw_line)
            except ValueError:
                continue
            raw = env.get("raw") if isinstance(env, dict) else None
            if not isinstance(raw, str) or raw in seen:
                continue
            seen.add(raw)
            sec = P.trade_seconds(raw)
            trades.append(_Trade(sec if sec is not None else 86_400, _trade_no(raw), raw))
    trades.sort()
    return [t.line for t in trades]


def latest_tape_date(lake: Lake) -> date | None:
    best: date | None = None
    for key in lake.glob("raw_lt/*/*/*/*"):
        try:
            d = keys.trade_date_of_raw_key(key.rstrip("/") + "/")
        except ValueError:
            continue
        best = d if best is None or d > best else best
    return best


def broksum_rows(doc: Any, ticker: str, side: str) -> list[str]:
    """The en_qu_top_bs record rows (protocol docstring) of one SPEC §8 document and side."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return []
    bs = data.get("broker_summary") or {}
    brokers: dict[str, dict[str, int]] = {}

    def num(v: Any) -> int:
        try:
            return int(float(str(v)))
        except ValueError:
            return 0

    for row in bs.get("brokers_buy") or []:
        b = brokers.setdefault(str(row.get("netbs_broker_code")), {"bv": 0, "bl": 0, "sv": 0, "sl": 0})
        b["bv"] += num(row.get("bval"))
        b["bl"] += num(row.get("blot"))
    for row in bs.get("brokers_sell") or []:
        b = brokers.setdefault(str(row.get("netbs_broker_code")), {"bv": 0, "bl": 0, "sv": 0, "sl": 0})
        b["sv"] += num(row.get("sval"))
        b["sl"] += num(row.get("slot"))
    val_key = "bv" if side == "b" else "sv"
    chosen = sorted(
        (c for c, b in brokers.items() if b[val_key] > 0), key=lambda c: (-brokers[c][val_key], c)
    )
    rows = []
    for c in chosen:
        b = brokers[c]
        rows.append(
            "|".join(
                str(x)
                for x in (
                    c,
                    b["bv"],
                    b["bl"] * 100,
                    0,
                    b["sv"],
                    b["sl"] * 100,
                    0,
                    b["bv"] - b["sv"],
                    (b["bl"] - b["sl"]) * 100,
                    b["bv"] + b["sv"],
                    b["bl"] + b["sl"],
                )
            )
        )
    bd = data.get("bandar_detector") or {}
    value, volume, freq = num(bd.get("value")), num(bd.get("volume")), num(bd.get("frequency"))
    if rows or value:
        rows.append(
            f"{ticker}|{value}|{volume}|{freq}|{value}|{volume}|{freq}|0|0|{2 * value}|{2 * (volume // 100)}"
        )
    return rows


class ReplayServer:
    def __init__(self, cfg: ReplayConfig, lines: list[str], lake: Lake | None = None) -> None:
        self.cfg = cfg
        self.lines = lines
        self.lake = lake
        self.pos = 0  # next trade to send
        self.subscribers: set[ServerConnection] = set()
        self.subscriptions = 0
        self.noservice_left = cfg.noservice
        self.frames_sent = 0
        self.has_subscribers = asyncio.Event()
        self.streaming_s = 0.0  # wall seconds streamed (for stall_after)
        self._styles: Iterator[P.TradeStyle] = itertools.cycle(("stream", "publish", "flat"))
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None
        self.done = asyncio.Event()  # every trade sent once

    # -- connection handler ------------------------------------------------------------------
    async def handler(self, ws: ServerConnection) -> None:
        last_pong = time.monotonic()
        pinger = asyncio.create_task(self._pings(ws, lambda: last_pong))
        dropper: asyncio.Task[None] | None = None
        peer = ws.remote_address
        log.info("replay: client %s connected", peer)
        try:
            async for msg in ws:
                f = P.decode(msg)
                if f.kind == "pong":
                    last_pong = time.monotonic()
                elif f.kind == "handshake":
                    await ws.send(
                        P.handshake_reply(f.cid or 1, uuid.uuid4().hex[:16], self.cfg.ping_timeout_ms)
                    )
                elif f.kind == "command" and f.cid is not None:
                    if P.is_lt_subscribe(f.param):
                        if self.noservice_left != 0:
                            self.noservice_left -= 1 if self.noservice_left > 0 else 0
                            log.info("replay: fault NOSERVICE to %s", peer)
                            await ws.send(P.error_reply(f.cid, "NOSERVICE", f.cmdid))
                            continue
                        await ws.send(P.reply(f.cid, f.cmdid))
                        await self._subscribe(ws)
                        if self.cfg.drop_every > 0 and dropper is None:
                            dropper = asyncio.create_task(self._drop_later(ws))
                    elif (q := P.parse_broksum_query(f.param)) is not None:
                        await self._answer_broksum(ws, f.cid, f.cmdid, q)
                    else:
                        await ws.send(P.reply(f.cid, f.cmdid))
        except ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            if dropper is not None:
                dropper.cancel()
            self.subscribers.discard(ws)
            if not self.subscribers:
                self.has_subscribers.clear()
            log.info("replay: client %s gone", peer)

    async def _subscribe(self, ws: ServerConnection) -> None:
        self.subscriptions += 1
        if self.subscriptions > 1 and self.cfg.replay_last > 0:
            start = max(0, self.pos - self.cfg.replay_last)
            for line in self.lines[start : self.pos]:
                await ws.send(P.trade(line, next(self._styles)))
            log.info("replay: replayed %d trades after reconnect", self.pos - start)
        self.subscribers.add(ws)
        self.has_subscribers.set()

    async def _drop_later(self, ws: ServerConnection) -> None:
        await asyncio.sleep(self.cfg.drop_every)
        log.info("replay: fault drop of %s", ws.remote_address)
        self.subscribers.discard(ws)
        await ws.close(1011, "replay fault: drop")

    async def _pings(self, ws: ServerConnection, last_pong: Any) -> None:
        try:
            while True:
                await asyncio.sleep(self.cfg.ping_interval)
                if time.monotonic() - last_pong() > self.cfg.ping_interval + self.cfg.ping_timeout_ms / 1000:
                    log.info("replay: no #2 from %s; closing", ws.remote_address)
                    await ws.close(4001, "ping timeout")
                    return
                await ws.send(P.PING)
        except ConnectionClosed:
            return

    async def _answer_broksum(
        self, ws: ServerConnection, cid: int, cmdid: int | None, q: P.BroksumQuery
    ) -> None:
        rows: list[str] = []
        if self.lake is not None:
            try:
                doc = await asyncio.to_thread(self.lake.read_json, keys.broksum_key(q.ticker, q.date))
                rows = broksum_rows(doc, q.ticker, q.side)
            except (FileNotFoundError, ValueError, keys.InvalidTicker):
                rows = []
        for row in rows:
            await ws.send(P.record(cmdid or 0, row))
        await ws.send(P.reply(cid, cmdid, records=len(rows)))

    # -- the feed ------------------------------------------------------------------------------
    async def _send_all(self, frames: Iterable[str]) -> None:
        frames = list(frames)
        for ws in list(self.subscribers):
            try:
                for fr in frames:
                    await ws.send(fr)
            except ConnectionClosed:
                self.subscribers.discard(ws)
        if not self.subscribers:
            self.has_subscribers.clear()

    def _trade_sec(self, i: int) -> float:
        s = P.trade_seconds(self.lines[i])
        return float(s) if s is not None else float("inf")

    async def produce(self) -> None:
        cfg = self.cfg
        n = len(self.lines)
        base_wall: float | None = None
        base_sec = self._trade_sec(0) if n else 0.0
        base_pos = 0
        stalled_until = 0.0
        stall_done = False
        sent_log = open(cfg.send_log, "a", encoding="utf-8") if cfg.send_log else None  # noqa: SIM115
        while self.pos < n:
            if not self.subscribers:
                base_wall = None
                self.has_subscribers.clear()  # (a set Event's wait() would not yield)
                await self.has_subscribers.wait()
                continue
            now = time.monotonic()
            if base_wall is None:  # (re)start the clock at the current trade
                base_wall = now
                base_sec = min(self._trade_sec(self.pos), 86_400.0)
                base_pos = self.pos
                last_tick = now
            self.streaming_s += now - last_tick
            last_tick = now
            if cfg.stall_after > 0 and not stall_done and self.streaming_s >= cfg.stall_after:
                stall_done = True
                stalled_until = now + cfg.stall_for
                log.info("replay: fault stall for %.1f s", cfg.stall_for)
            if now < stalled_until:
                await asyncio.sleep(min(0.2, stalled_until - now))
                base_wall = None if time.monotonic() >= stalled_until else base_wall
                continue
            # due: trades with trade time <= due_sec, or (fixed rate) positions < due_pos
            due_pos = base_pos + int((now - base_wall) * cfg.rate) + 1 if cfg.rate > 0 else n
            due_sec = (
                base_sec + (now - base_wall) * cfg.speed if cfg.speed > 0 and cfg.rate <= 0 else float("inf")
            )
            frames: list[str] = []
            first = self.pos
            while (
                self.pos < min(n, due_pos)
                and len(frames) < cfg.batch_max
                and self._trade_sec(self.pos) <= due_sec
            ):
                frames.append(P.trade(self.lines[self.pos], next(self._styles)))
                self.pos += 1
                self.frames_sent += 1
                if cfg.malformed_every > 0 and self.frames_sent % cfg.malformed_every == 0:
                    frames.append(P.malformed(self.frames_sent // cfg.malformed_every))
            if frames:
                if sent_log is not None:
                    ns = time.time_ns()
                    sent_log.writelines(f"{ns}\t{line}\n" for line in self.lines[first : self.pos])
                    sent_log.flush()
                await self._send_all(frames)
                await asyncio.sleep(0)
            elif cfg.rate > 0:
                await asyncio.sleep(max(0.0005, (due_pos - base_pos) / cfg.rate - (now - base_wall)))
            else:
                nxt = self._trade_sec(self.pos)
                wait = (nxt - due_sec) / cfg.speed if cfg.speed > 0 else 0.0
                await asyncio.sleep(max(0.001, min(0.05, wait)))
        if sent_log is not None:
            sent_log.close()
        log.info("replay: all %d trades sent", n)
        self.done.set()

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.cfg.token is None:
            return None
        given = parse_qs(urlsplit(request.path).query).get("appsession", [""])[0]
        if given == self.cfg.token:
            return None
        log.info("replay: refused appsession %r", given[:4])
        return connection.respond(HTTPStatus.FORBIDDEN, "invalid appsession\n")

    async def start(self) -> Server:
        self._server = await ws_serve(
            self.handler,
            self.cfg.host,
            self.cfg.port,
            ping_interval=None,
            max_queue=None,
            compression=None,
            process_request=self._check_token,
        )
        self._producer = asyncio.create_task(self.produce())
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])


async def serve(cfg: ReplayConfig, lake: Lake, *, ready: Any = None) -> None:
    """Load the day, serve until cancelled. `ready(port)` is called once listening."""
    lines = await asyncio.to_thread(load_day, lake, cfg.date)
    srv = ReplayServer(cfg, lines, lake)
    server = await srv.start()
    log.info(
        "replay-server: %s, %d trades, speed %sx, listening on ws://%s:%d/socketcluster/",
        cfg.date,
        len(lines),
        cfg.speed,
        cfg.host,
        srv.port,
    )
    print(
        json.dumps(
            {"event": "listening", "port": srv.port, "date": cfg.date.isoformat(), "trades": len(lines)}
        ),
        flush=True,
    )
    if ready is not None:
        ready(srv.port)
    async with server:
        await server.serve_forever()
