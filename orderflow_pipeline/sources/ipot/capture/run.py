"""`orderflow capture`: the IPOT live-trade WebSocket into `raw_lt/` (issue 18, IPOT.md, SPEC §5).

One asyncio process:
- connects (`websockets`), handshakes, subscribes to LT the way IPOT.md says, answers `#1` with
  `#2`, accepts `stream` and `#publish` trade frames (the frames are `ipot.protocol`'s);
- writes each trade line, in the SPEC §5 envelope, to the local spool at once (see `spool`), fsyncs
  at least every `fsync_interval` s, seals a segment every `flush_seconds` / `flush_lines` /
  `flush_bytes`, and an uploader writes sealed segments to the lake atomically, retrying with
  backoff (capped at `lake_retry_cap`) while the spool grows; the spool left by a killed process
  is written on the next start;
- reconnects with exponential backoff and full jitter in [delay/2, delay] (capped at
  `backoff_cap`, 30 s), refreshes the token from `ORDERFLOW_IPOT_TOKEN_URL` after `refresh_after`
  consecutive failures (at most once every 2 minutes);
- treats a `NOSERVICE`/error reply, and no trade for `stall_seconds` inside a continuous session,
  as a failure: a log line, the heartbeat's `state` and `problems`, an alert
  (`alerts.send_alert`, webhook `ORDERFLOW_ALERT_WEBHOOK`), then a reconnect. Malformed frames are
  counted, logged, shown in the heartbeat and alerted once per day; capture keeps running.
  "Inside a continuous session" (SPEC §12): live, the WIB clock is in a continuous window; when
  capturing a past `--date` (a replay), the last trade received was inside one (or none came yet);
- writes the heartbeat `_state/capture/{capture_id}.json` every `heartbeat_seconds` (and a copy in
  the spool folder, readable while the lake is down);
- on SIGTERM/SIGINT or after `--duration`, seals and uploads everything and exits 0; exits 1 after
  `max_failures` consecutive failures (0 = never gives up), 2 when the spool cannot be written,
  3 when the lake stayed unavailable through the final flush (the lines wait in the spool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.alerts import clear_alert, send_alert
from orderflow_pipeline.config import DEFAULT_IPOT_URL, Settings
from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.capture.spool import Sealed, Spool, envelope
from orderflow_pipeline.storage.keys import WIB
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.capture")

TOKEN_RE = re.compile(r"""appsession\s*[:=]\s*["']([^"']+)["']""")
TOKEN_REFRESH_MIN_S = 120.0


def heartbeat_key(capture_id: str) -> str:
    return f"_state/capture/{capture_id}.json"


@dataclass
class CaptureConfig:
    url: str = DEFAULT_IPOT_URL
    token: str | None = None
    token_url: str | None = None
    date: date | None = None  # None: today in WIB
    duration: float | None = None
    capture_id: str = "capture"
    spool: Path = Path("./data/capture-spool/capture")
    flush_seconds: float = 5.0
    flush_lines: int = 500
    flush_bytes: int = 512 * 1024
    fsync_interval: float = 0.5
    stall_seconds: float = 60.0
    heartbeat_seconds: float = 5.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    lake_retry_cap: float = 30.0
    refresh_after: int = 3
    alert_after: int = 3  # consecutive failed connects before a "down" alert
    max_failures: int = 0
    final_flush_timeout: float = 30.0
    open_timeout: float = 10.0


class Failure(Exception):
    """A condition the capture acts on: kind is noservice, stall, handshake, disconnect."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def redact(url: str) -> str:
    return re.sub(r"(appsession=)([^&]{0,4})[^&]*", r"\1\2…", url)


def with_token(url: str, token: str | None) -> str:
    if not token:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}appsession={quote(token, safe='')}"


def fetch_token(token_url: str) -> str:
    """The appsession string from the refresh URL (IPOT.md's regex, or a bare token body)."""
    resp = httpx.get(token_url, timeout=10.0, follow_redirects=True)
    resp.raise_for_status()
    m = TOKEN_RE.search(resp.text)
    if m:
        return m.group(1)
    body = resp.text.strip()
    if body and len(body) < 512 and not any(c.isspace() for c in body):
        return body
    raise ValueError(f"no appsession token found at {token_url}")


@dataclass
class Stats:
    started_at: float = field(default_factory=time.time)
    state: str = "starting"
    connected_since: float | None = None
    last_trade_time: str | None = None  # the trade time in the line (WIB ISO)
    last_trade_received_at: float | None = None
    lines: int = 0
    objects: int = 0
    reconnects: int = 0
    failures: int = 0  # consecutive
    last_error: str | None = None
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovered_lines: int = 0


class Capture:
    def __init__(self, cfg: CaptureConfig, lake: Lake | Callable[[], Lake], settings: Settings) -> None:
        """`lake` may be a factory: a lake that cannot even be opened at start (down) is opened on
        the first write that needs it, and the capture runs into its spool meanwhile."""
        self.cfg = cfg
        self._lake: Lake | None = lake if isinstance(lake, Lake) else None
        self._lake_factory: Callable[[], Lake] | None = None if isinstance(lake, Lake) else lake
        self.settings = settings
        self.spool = Spool(cfg.spool, cfg.capture_id)
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.exit_code = 0
        self.token = cfg.token
        self._last_refresh = 0.0
        self._sealed_ready = asyncio.Event()
        self._last_trade_sec: int | None = None
        self._last_trade_mono: float | None = None
        self._alerted: set[str] = set()
        self._bg: set[asyncio.Task[Any]] = set()
        self._lake_down_since: float | None = None
        self._had_trades = False

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def lake(self) -> Lake:
        """The lake, opened on first use (raises while it cannot be opened)."""
        if self._lake is None:
            assert self._lake_factory is not None
            self._lake = self._lake_factory()
        return self._lake

    def _alert_lake(self) -> Lake | None:
        try:
            return self.lake
        except Exception:  # noqa: BLE001 - alerts still go out (undeduplicated) without a lake
            return None

    def trading_date(self) -> date:
        return self.cfg.date or idx_calendar.wib_date(datetime.now(timezone.utc))

    def _key(self) -> str:
        return f"{self.cfg.capture_id}/{self.trading_date().isoformat()}"

    def problem(self, kind: str, message: str, *, alert: bool = True) -> None:
        p = self.stats.problems.setdefault(kind, {"count": 0})
        p["count"] += 1
        p["last_at"] = _iso(time.time())
        p["last_error"] = message
        self.stats.last_error = f"{kind}: {message}"
        if alert and kind not in self._alerted:
            self._alerted.add(kind)
            payload = {
                "text": f"capture {self.cfg.capture_id}: {kind}: {message}",
                "capture_id": self.cfg.capture_id,
                "trading_date": self.trading_date().isoformat(),
                "url": redact(self.cfg.url),
                "problem": kind,
            }
            self._spawn(
                asyncio.to_thread(
                    send_alert,
                    self.settings,
                    f"capture_{kind}",
                    self._key(),
                    payload,
                    lake=self._alert_lake(),
                )
            )

    def resolved(self, kind: str) -> None:
        if kind in self._alerted:
            self._alerted.discard(kind)
            self._spawn(
                asyncio.to_thread(
                    clear_alert, self.settings, f"capture_{kind}", self._key(), lake=self._alert_lake()
                )
            )

    def _spawn(self, aw: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(aw)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))

    # -- spool side ------------------------------------------------------------------------------
    def _append(self, lines: list[str]) -> None:
        now = time.time()
        ms = int(now * 1000)
        data = b"".join(envelope(x, ms) + b"\n" for x in lines)
        try:
            self.spool.append(self.trading_date(), data, len(lines))
        except OSError as exc:
            log.error("capture: cannot write the spool %s (%s); exiting", self.cfg.spool, exc)
            self.exit_code = 2
            self.stop.set()
            return
        self.stats.lines += len(lines)
        self.stats.last_trade_received_at = now
        self._last_trade_mono = time.monotonic()
        for x in reversed(lines):
            sec = P.trade_seconds(x)
            if sec is not None:
                self._last_trade_sec = sec
                d = self.trading_date()
                self.stats.last_trade_time = (
                    datetime(d.year, d.month, d.day, tzinfo=WIB) + timedelta(seconds=sec)
                ).isoformat()
                break
        if self.spool.lines >= self.cfg.flush_lines or self.spool.bytes >= self.cfg.flush_bytes:
            self._seal()

    def _seal(self) -> None:
        try:
            if self.spool.seal() is not None:
                self._sealed_ready.set()
        except OSError as exc:
            log.error("capture: cannot seal a spool segment (%s); exiting", exc)
            self.exit_code = 2
            self.stop.set()

    async def _ticker(self) -> None:
        """fsync at least every fsync_interval; seal a segment flush_seconds after it opened."""
        while not self.stop.is_set():
            await self._sleep(min(0.2, self.cfg.fsync_interval))
            try:
                if time.monotonic() - self.spool.last_fsync >= self.cfg.fsync_interval:
                    self.spool.fsync()
            except OSError as exc:
                log.error("capture: spool fsync failed (%s); exiting", exc)
                self.exit_code = 2
                self.stop.set()
            if (
                self.spool.open_date is not None
                and time.monotonic() - self.spool.opened_at >= self.cfg.flush_seconds
            ):
                self._seal()

    def _write_sealed(self, s: Sealed) -> bool:
        """Write one sealed segment to the lake; True when it is there (then deleted locally)."""
        data = s.path.read_bytes()
        for _ in range(1000):
            try:
                existing = self.lake.read_bytes(s.key)
            except FileNotFoundError:
                existing = None
            if existing is None:
                self.lake.write_bytes(s.key, data)
                break
            if existing == data:  # written before a kill, not yet deleted: done
                break
            s = self.spool.rekey(s)  # another object of this capture holds the key
        s.path.unlink(missing_ok=True)
        return True

    async def _upload_all(self) -> int:
        """Write every sealed segment; raises on the first lake error."""
        n = 0
        for s in self.spool.sealed():
            await asyncio.to_thread(self._write_sealed, s)
            n += 1
            self.stats.objects += 1
        return n

    async def _uploader(self) -> None:
        delay = 0.0
        while True:
            if delay == 0.0:
                if self.stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sealed_ready.wait(), timeout=1.0)
                self._sealed_ready.clear()
            else:
                await asyncio.sleep(delay)
            try:
                await self._upload_all()
            except Exception as exc:  # noqa: BLE001 - any lake error: keep the spool, retry
                delay = min(self.cfg.lake_retry_cap, max(0.25, delay * 2))
                if self._lake_down_since is None:
                    self._lake_down_since = time.monotonic()
                    log.error("capture: lake write failed (%s); keeping lines in the spool, retrying", exc)
                self.stats.state = "lake_unavailable"
                self.problem("lake_unavailable", str(exc))
                if self.stop.is_set() and delay >= self.cfg.lake_retry_cap:
                    return
                continue
            if self._lake_down_since is not None:
                log.info(
                    "capture: lake writable again after %.1f s; spool drained",
                    time.monotonic() - self._lake_down_since,
                )
                self._lake_down_since = None
                self.resolved("lake_unavailable")
                if self.stats.state == "lake_unavailable":
                    self.stats.state = "streaming"
            delay = 0.0

    # -- heartbeat -------------------------------------------------------------------------------
    def heartbeat(self) -> dict[str, Any]:
        spool_bytes, spool_segments = self.spool.size()
        s = self.stats
        return {
            "capture_id": self.cfg.capture_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": s.state,
            "trading_date": self.trading_date().isoformat(),
            "url": redact(self.cfg.url),
            "started_at": _iso(s.started_at),
            "connected_since": _iso(s.connected_since),
            "last_trade_time": s.last_trade_time,
            "last_trade_received_at": _iso(s.last_trade_received_at),
            "lines": s.lines,
            "objects": s.objects,
            "reconnects": s.reconnects,
            "failures": s.failures,
            "spool_bytes": spool_bytes,
            "spool_segments": spool_segments,
            "recovered_lines": s.recovered_lines,
            "problems": s.problems,
            "last_error": s.last_error,
            "updated_at": _iso(time.time()),
        }

    def _write_heartbeat(self) -> None:
        doc = self.heartbeat()
        from orderflow_pipeline.storage.lake import dumps

        data = dumps(doc, indent=1)
        tmp = self.cfg.spool / ".heartbeat.tmp"
        with contextlib.suppress(OSError):
            tmp.write_bytes(data)
            os.replace(tmp, self.cfg.spool / "heartbeat.json")
        try:
            self.lake.write_bytes(heartbeat_key(self.cfg.capture_id), data, durable=False)
        except Exception as exc:  # noqa: BLE001 - a heartbeat must never stop the capture
            log.debug("heartbeat to the lake failed: %s", exc)

    async def _heartbeats(self) -> None:
        while not self.stop.is_set():
            await asyncio.to_thread(self._write_heartbeat)
            await self._sleep(self.cfg.heartbeat_seconds)

    # -- the socket ------------------------------------------------------------------------------
    def _in_session(self) -> bool:
        if self.cfg.date is None:
            return idx_calendar.market_phase(datetime.now(timezone.utc)) == "continuous"
        if self._last_trade_sec is None:
            return True
        d = self.cfg.date
        t = (datetime(d.year, d.month, d.day) + timedelta(seconds=self._last_trade_sec)).time()
        return idx_calendar.is_continuous(d, t)

    async def _recv(self, ws: ClientConnection, timeout: float) -> str | bytes | None:
        try:
            return await asyncio.wait_for(ws.recv(), timeout=timeout)
        except TimeoutError:
            return None

    async def _session(self) -> bool:
        """One connection; returns when asked to stop, raises Failure/connection errors. Sets
        `self._had_trades` when trades flowed."""
        url = with_token(self.cfg.url, self.token)
        self.stats.state = "connecting"
        async with connect(
            url, ping_interval=None, open_timeout=self.cfg.open_timeout, max_size=2**24, max_queue=None
        ) as ws:
            await ws.send(P.handshake())
            deadline = time.monotonic() + self.cfg.open_timeout
            while True:
                msg = await self._recv(ws, max(0.01, deadline - time.monotonic()))
                if msg is None:
                    raise Failure("handshake", "no handshake reply")
                f = P.decode(msg)
                if f.kind == "ping":
                    await ws.send(P.PONG)
                elif f.kind == "handshake_reply" or (f.kind == "reply" and f.rid == P.HANDSHAKE_CID):
                    if f.error:
                        raise Failure("noservice", f"handshake refused: {f.error}")
                    break
            sub_cid = 2
            await ws.send(P.subscribe_lt(1, sub_cid))
            self.stats.state = "subscribed"
            self.stats.connected_since = time.time()
            log.info("capture: connected to %s, subscribed to LT", redact(url))
            self._last_trade_mono = None
            stalled: list[str] = []
            watchdog = asyncio.create_task(self._watchdog(ws, time.monotonic(), stalled))
            streaming = False
            try:
                async for msg in ws:
                    f = P.decode(msg)
                    if f.kind != "trade":
                        await self._handle_other(ws, f, sub_cid)
                        continue
                    self._append([f.data])
                    if (why := P.line_problem(f.data)) is not None:
                        self._malformed(f"LT line stored but not a §5 trade ({why}): {f.data[:80]!r}")
                    if not streaming:
                        streaming = True
                        self.stats.state = "streaming"
                        self.stats.failures = 0
                        self._had_trades = True
                        for kind in ("noservice", "stall", "down", "handshake"):
                            self.resolved(kind)
            finally:
                watchdog.cancel()
            if stalled:
                raise Failure("stall", stalled[0])
            if not self.stop.is_set():
                raise Failure(
                    "disconnect", f"connection closed by the server ({ws.close_code} {ws.close_reason})"
                )
        return True

    async def _watchdog(self, ws: ClientConnection, since: float, stalled: list[str]) -> None:
        """Close the connection when asked to stop, or on a stall (reported through `stalled`)."""
        while True:
            await self._sleep(0.25)
            if self.stop.is_set():
                await ws.close()
                return
            ref = self._last_trade_mono or since
            if time.monotonic() - ref > self.cfg.stall_seconds and self._in_session():
                stalled.append(
                    f"no trade for {time.monotonic() - ref:.1f} s inside a continuous session "
                    f"(last trade time {self.stats.last_trade_time})"
                )
                await ws.close(1000, "stalled feed")
                return

    async def _handle_other(self, ws: ClientConnection, f: P.Frame, sub_cid: int) -> None:
        if f.kind == "ping":
            await ws.send(P.PONG)
        elif f.kind == "reply" and f.error:
            raise Failure(
                "noservice",
                f"error reply to {'the LT subscription' if f.rid == sub_cid else f'call {f.rid}'}: {f.error}",
            )
        elif f.kind == "malformed":
            self._malformed(f.error or "malformed frame")

    def _malformed(self, message: str) -> None:
        n = self.stats.problems.get("malformed", {}).get("count", 0)
        if n < 5 or n % 100 == 0:
            log.warning("capture: malformed frame #%d: %s", n + 1, message)
        self.problem("malformed", message)

    def _backoff(self, failures: int) -> float:
        delay = min(self.cfg.backoff_cap, self.cfg.backoff_base * (2 ** max(0, failures - 1)))
        return random.uniform(delay / 2, delay)

    async def _maybe_refresh_token(self) -> None:
        if not self.cfg.token_url or self.stats.failures < self.cfg.refresh_after:
            return
        if time.monotonic() - self._last_refresh < TOKEN_REFRESH_MIN_S and self._last_refresh:
            return
        self._last_refresh = time.monotonic()
        try:
            token = await asyncio.to_thread(fetch_token, self.cfg.token_url)
        except Exception as exc:  # noqa: BLE001
            log.error("capture: token refresh from %s failed: %s", self.cfg.token_url, exc)
            self.problem("token_refresh", str(exc))
            return
        changed = token != self.token
        self.token = token
        log.info("capture: token refreshed (%s…, %s)", token[:4], "changed" if changed else "unchanged")

    async def _connection_loop(self) -> None:
        while not self.stop.is_set():
            self._had_trades = False
            try:
                await self._session()
                continue
            except Failure as exc:
                kind, message = exc.kind, str(exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                kind, message = "disconnect", f"{type(exc).__name__}: {exc}"
            if self.stop.is_set():
                break
            self.stats.reconnects += 1
            self.stats.connected_since = None
            self.stats.failures = 1 if self._had_trades and kind == "disconnect" else self.stats.failures + 1
            level = logging.INFO if kind == "disconnect" and self._had_trades else logging.ERROR
            log.log(level, "capture: %s: %s (failure %d in a row)", kind, message, self.stats.failures)
            if kind == "disconnect":
                self.stats.state = "reconnecting"
                if self.stats.failures >= self.cfg.alert_after:
                    self.problem("down", f"{self.stats.failures} failed connects in a row: {message}")
                else:
                    self.stats.last_error = f"disconnect: {message}"
            else:
                self.stats.state = {"noservice": "error_noservice", "stall": "stalled"}.get(kind, "error")
                self.problem(kind, message)
            if self.cfg.max_failures and self.stats.failures >= self.cfg.max_failures:
                log.error(
                    "capture: giving up after %d consecutive failures (last: %s)",
                    self.stats.failures,
                    message,
                )
                self.exit_code = 1
                self.stop.set()
                break
            await self._maybe_refresh_token()
            delay = self._backoff(self.stats.failures)
            log.info("capture: reconnecting in %.2f s", delay)
            await self._sleep(delay)

    # -- the whole run ---------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        recovered = self.spool.recover()
        self.stats.recovered_lines = recovered
        pending = self.spool.sealed()
        if pending:
            log.info(
                "capture: %d segments (%d lines) left in the spool by an earlier run; writing them",
                len(pending),
                recovered,
            )
            self._sealed_ready.set()
        if self.cfg.duration is not None:
            loop.call_later(self.cfg.duration, self.stop.set)
        log.info(
            "capture %s: trading date %s, url %s, spool %s",
            self.cfg.capture_id,
            self.trading_date(),
            redact(with_token(self.cfg.url, self.token)),
            self.cfg.spool,
        )
        uploader = asyncio.create_task(self._uploader())
        tasks = [
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._heartbeats()),
            asyncio.create_task(self._connection_loop()),
        ]
        await self.stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._seal()
        self._sealed_ready.set()
        self.stats.state = "stopping"
        try:
            await asyncio.wait_for(uploader, timeout=self.cfg.final_flush_timeout)
        except TimeoutError:
            log.error("capture: lake still unavailable at stop")
        left = self.spool.sealed()
        if left:
            log.error(
                "capture: %d segments stay in the spool %s (lake unavailable); the next start writes them; exit 3",
                len(left),
                self.cfg.spool,
            )
            self.exit_code = self.exit_code or 3
        else:
            log.info(
                "capture: everything flushed (%d lines, %d objects)", self.stats.lines, self.stats.objects
            )
        self.spool.close()
        self.stats.state = "stopped" if self.exit_code == 0 else "failed"
        await asyncio.to_thread(self._write_heartbeat)
        if self._bg:
            await asyncio.wait(list(self._bg), timeout=10)
        return self.exit_code

    def _on_signal(self, sig: int) -> None:
        log.info("capture: %s received; flushing", signal.Signals(sig).name)
        self.stop.set()


def run_capture(cfg: CaptureConfig, settings: Settings, lake: Lake | None = None) -> int:
    """Run a capture until stopped; the lake defaults to the settings' (opened lazily)."""

    async def main() -> int:
        return await Capture(cfg, lake or (lambda: Lake.from_settings(settings)), settings).run()

    return asyncio.run(main())
