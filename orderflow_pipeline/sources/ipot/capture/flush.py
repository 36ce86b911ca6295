"""The capture's way from received lines to the lake: every line into the spool at once, fsync at
least every `fsync_interval` s, a segment sealed at `flush_seconds` / `flush_lines` /
`flush_bytes`, and an uploader writing sealed segments to the lake, retrying with backoff
(capped at `lake_retry_cap`) while the spool grows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from orderflow_pipeline.live.publisher import Publisher
from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.capture.spool import Sealed, Spool, envelope
from orderflow_pipeline.sources.ipot.capture.state import CaptureState
from orderflow_pipeline.storage.keys import WIB

log = logging.getLogger("orderflow.capture")


class Flusher:
    def __init__(self, state: CaptureState) -> None:
        self.state = state
        self.cfg = state.cfg
        self.spool = Spool(state.cfg.spool, state.cfg.capture_id)
        self.sealed_ready = asyncio.Event()
        self._lake_down_since: float | None = None
        # ORDERFLOW_LIVE_BROKER: every line also goes to the live broker (`Capture` starts it)
        self.publisher: Publisher | None = None

    def append(self, lines: list[str]) -> None:
        st = self.state
        now = time.time()
        ms = int(now * 1000)
        envs = [envelope(x, ms) for x in lines]
        data = b"".join(x + b"\n" for x in envs)
        d = st.trading_date()
        try:
            self.spool.append(d, data, len(lines))
        except OSError as exc:
            log.error("capture: cannot write the spool %s (%s); exiting", self.cfg.spool, exc)
            st.finish(2)
            return
        if self.publisher is not None:  # after the spool has them, before any flush (live.publisher)
            self.publisher.publish(d, envs)
        st.stats.lines += len(lines)
        st.stats.last_trade_received_at = now
        st.last_trade_mono = time.monotonic()
        for x in reversed(lines):
            sec = P.trade_seconds(x)
            if sec is not None:
                st.last_trade_sec = sec
                st.stats.last_trade_time = (
                    datetime(d.year, d.month, d.day, tzinfo=WIB) + timedelta(seconds=sec)
                ).isoformat()
                break
        if self.spool.lines >= self.cfg.flush_lines or self.spool.bytes >= self.cfg.flush_bytes:
            self.seal()

    def seal(self) -> None:
        try:
            if self.spool.seal() is not None:
                self.sealed_ready.set()
        except OSError as exc:
            log.error("capture: cannot seal a spool segment (%s); exiting", exc)
            self.state.finish(2)

    async def ticker(self) -> None:
        """fsync at least every fsync_interval; seal a segment flush_seconds after it opened."""
        st = self.state
        while not st.stop.is_set():
            await st.sleep(min(0.2, self.cfg.fsync_interval))
            try:
                if time.monotonic() - self.spool.last_fsync >= self.cfg.fsync_interval:
                    self.spool.fsync()
            except OSError as exc:
                log.error("capture: spool fsync failed (%s); exiting", exc)
                st.finish(2)
            if (
                self.spool.open_date is not None
                and time.monotonic() - self.spool.opened_at >= self.cfg.flush_seconds
            ):
                self.seal()

    def _write_sealed(self, s: Sealed) -> bool:
        """Write one sealed segment to the lake; True when it is there (then deleted locally)."""
        data = s.path.read_bytes()
        lake = self.state.lake
        for _ in range(1000):
            try:
                existing = lake.read_bytes(s.key)
            except FileNotFoundError:
                existing = None
            if existing is None:
                lake.write_bytes(s.key, data)
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
            self.state.stats.objects += 1
        return n

    async def uploader(self) -> None:
        st = self.state
        delay = 0.0
        while True:
            if delay == 0.0:
                if st.stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.sealed_ready.wait(), timeout=1.0)
                self.sealed_ready.clear()
            else:
                await asyncio.sleep(delay)
            try:
                await self._upload_all()
            except Exception as exc:  # noqa: BLE001 - any lake error: keep the spool, retry
                delay = min(self.cfg.lake_retry_cap, max(0.25, delay * 2))
                if self._lake_down_since is None:
                    self._lake_down_since = time.monotonic()
                    log.error("capture: lake write failed (%s); keeping lines in the spool, retrying", exc)
                st.stats.state = "lake_unavailable"
                st.problem("lake_unavailable", str(exc))
                if st.stop.is_set() and delay >= self.cfg.lake_retry_cap:
                    return
                continue
            if self._lake_down_since is not None:
                log.info(
                    "capture: lake writable again after %.1f s; spool drained",
                    time.monotonic() - self._lake_down_since,
                )
                self._lake_down_since = None
                st.resolved("lake_unavailable")
                if st.stats.state == "lake_unavailable":
                    st.stats.state = "streaming"
            delay = 0.0
