"""The capture's side of the feed connection: connect, handshake and subscribe to LT over the
shared `client.Connection`, hand every trade line to the flusher, and act on failures.

A `NOSERVICE`/error reply, and no trade for `stall_seconds` inside a continuous session, is a
failure: a log line, the heartbeat's `state` and `problems`, an alert, then a reconnect with
exponential backoff and full jitter in [delay/2, delay] (capped at `backoff_cap`). After
`refresh_after` consecutive failures the token is fetched again from `token_url` (at most once
every 2 minutes). Malformed frames are counted, logged, shown in the heartbeat and alerted once
per day; the capture keeps running. "Inside a continuous session" (SPEC §12): live, the WIB clock
is in a continuous window; when capturing a past `--date` (a replay), the last trade received was
inside one (or none came yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timedelta, timezone

from websockets.exceptions import WebSocketException

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.capture.flush import Flusher
from orderflow_pipeline.sources.ipot.capture.state import CaptureState
from orderflow_pipeline.sources.ipot.client import (
    Connection,
    HandshakeRefused,
    fetch_token,
    redact,
    with_token,
)

log = logging.getLogger("orderflow.capture")

TOKEN_REFRESH_MIN_S = 120.0


class Failure(Exception):
    """A condition the capture acts on: kind is noservice, stall, handshake, disconnect."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class FeedSession:
    def __init__(self, state: CaptureState, flusher: Flusher) -> None:
        self.state = state
        self.cfg = state.cfg
        self.flusher = flusher
        self.token = state.cfg.token
        self._last_refresh = 0.0
        self._had_trades = False

    def _in_session(self) -> bool:
        if self.cfg.date is None:
            return idx_calendar.market_phase(datetime.now(timezone.utc)) == "continuous"
        sec = self.state.last_trade_sec
        if sec is None:
            return True
        d = self.cfg.date
        t = (datetime(d.year, d.month, d.day) + timedelta(seconds=sec)).time()
        return idx_calendar.is_continuous(d, t)

    async def _connect_once(self) -> bool:
        """One connection; returns when asked to stop, raises Failure/connection errors. Sets
        `self._had_trades` when trades flowed."""
        st = self.state
        url = with_token(self.cfg.url, self.token)
        st.stats.state = "connecting"
        async with await Connection.open(
            self.cfg.url, self.token, open_timeout=self.cfg.open_timeout
        ) as conn:
            try:
                await conn.handshake(self.cfg.open_timeout)
            except TimeoutError:
                raise Failure("handshake", "no handshake reply") from None
            except HandshakeRefused as exc:
                raise Failure("noservice", f"handshake refused: {exc}") from None
            sub_cid = await conn.subscribe_lt()
            st.stats.state = "subscribed"
            st.stats.connected_since = time.time()
            log.info("capture: connected to %s, subscribed to LT", redact(url))
            st.last_trade_mono = None
            stalled: list[str] = []
            watchdog = asyncio.create_task(self._watchdog(conn, time.monotonic(), stalled))
            streaming = False
            try:
                async with contextlib.aclosing(conn.frames()) as frames:
                    async for f in frames:
                        if f.kind != "trade":
                            self._handle_other(f, sub_cid)
                            continue
                        self.flusher.append([f.data])
                        if (why := P.line_problem(f.data)) is not None:
                            self._malformed(f"LT line stored but not a §5 trade ({why}): {f.data[:80]!r}")
                        if not streaming:
                            streaming = True
                            st.stats.state = "streaming"
                            st.stats.failures = 0
                            self._had_trades = True
                            for kind in ("noservice", "stall", "down", "handshake"):
                                st.resolved(kind)
            finally:
                watchdog.cancel()
            if stalled:
                raise Failure("stall", stalled[0])
            if not st.stop.is_set():
                raise Failure(
                    "disconnect", f"connection closed by the server ({conn.close_code} {conn.close_reason})"
                )
        return True

    async def _watchdog(self, conn: Connection, since: float, stalled: list[str]) -> None:
        """Close the connection when asked to stop, or on a stall (reported through `stalled`)."""
        st = self.state
        while True:
            await st.sleep(0.25)
            if st.stop.is_set():
                await conn.close()
                return
            ref = st.last_trade_mono or since
            if time.monotonic() - ref > self.cfg.stall_seconds and self._in_session():
                stalled.append(
                    f"no trade for {time.monotonic() - ref:.1f} s inside a continuous session "
                    f"(last trade time {st.stats.last_trade_time})"
                )
                await conn.close(1000, "stalled feed")
                return

    def _handle_other(self, f: P.Frame, sub_cid: int) -> None:
        if f.kind == "reply" and f.error:
            raise Failure(
                "noservice",
                f"error reply to {'the LT subscription' if f.rid == sub_cid else f'call {f.rid}'}: {f.error}",
            )
        if f.kind == "malformed":
            self._malformed(f.error or "malformed frame")

    def _malformed(self, message: str) -> None:
        n = self.state.stats.problems.get("malformed", {}).get("count", 0)
        if n < 5 or n % 100 == 0:
            log.warning("capture: malformed frame #%d: %s", n + 1, message)
        self.state.problem("malformed", message)

    def _backoff(self, failures: int) -> float:
        delay = min(self.cfg.backoff_cap, self.cfg.backoff_base * (2 ** max(0, failures - 1)))
        return random.uniform(delay / 2, delay)

    async def _maybe_refresh_token(self) -> None:
        if not self.cfg.token_url or self.state.stats.failures < self.cfg.refresh_after:
            return
        if time.monotonic() - self._last_refresh < TOKEN_REFRESH_MIN_S and self._last_refresh:
            return
        self._last_refresh = time.monotonic()
        try:
            token = await asyncio.to_thread(fetch_token, self.cfg.token_url)
        except Exception as exc:  # noqa: BLE001
            log.error("capture: token refresh from %s failed: %s", self.cfg.token_url, exc)
            self.state.problem("token_refresh", str(exc))
            return
        changed = token != self.token
        self.token = token
        log.info("capture: token refreshed (%s…, %s)", token[:4], "changed" if changed else "unchanged")

    async def run(self) -> None:
        """Connect, and reconnect after every failure, until asked to stop (or `max_failures`)."""
        st = self.state
        stats = st.stats
        while not st.stop.is_set():
            self._had_trades = False
            try:
                await self._connect_once()
                continue
            except Failure as exc:
                kind, message = exc.kind, str(exc)
            except (OSError, WebSocketException, TimeoutError) as exc:
                kind, message = "disconnect", f"{type(exc).__name__}: {exc}"
            if st.stop.is_set():
                break
            stats.reconnects += 1
            stats.connected_since = None
            stats.failures = 1 if self._had_trades and kind == "disconnect" else stats.failures + 1
            level = logging.INFO if kind == "disconnect" and self._had_trades else logging.ERROR
            log.log(level, "capture: %s: %s (failure %d in a row)", kind, message, stats.failures)
            if kind == "disconnect":
                stats.state = "reconnecting"
                if stats.failures >= self.cfg.alert_after:
                    st.problem("down", f"{stats.failures} failed connects in a row: {message}")
                else:
                    stats.last_error = f"disconnect: {message}"
            else:
                stats.state = {"noservice": "error_noservice", "stall": "stalled"}.get(kind, "error")
                st.problem(kind, message)
            if self.cfg.max_failures and stats.failures >= self.cfg.max_failures:
                log.error(
                    "capture: giving up after %d consecutive failures (last: %s)",
                    stats.failures,
                    message,
                )
                st.finish(1)
                break
            await self._maybe_refresh_token()
            delay = self._backoff(stats.failures)
            log.info("capture: reconnecting in %.2f s", delay)
            await st.sleep(delay)
