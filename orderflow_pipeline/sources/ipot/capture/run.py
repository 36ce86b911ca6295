"""`orderflow capture`: the IPOT live-trade WebSocket into `raw_lt/` (IPOT.md, SPEC §5).

One asyncio process of four parts sharing one `state.CaptureState`:
- `session.FeedSession` connects, handshakes, subscribes to LT the way IPOT.md says (the
  connection is `client.Connection`'s, the frames `protocol`'s), reconnects and reports failures;
- `flush.Flusher` writes each trade line, in the SPEC §5 envelope, to the local spool at once
  (see `spool`), seals segments and uploads them to the lake; the spool left by a killed process
  is written on the next start;
- `heartbeat` writes `_state/capture/{capture_id}.json` every `heartbeat_seconds`;
- with ORDERFLOW_LIVE_BROKER, `live.publisher.Publisher` also sends every line (and each
  heartbeat) to the live broker, from its own thread; a broker outage is a `broker_down`
  problem, never a reason to stop or slow the capture;
- this module starts them and stops them: on SIGTERM/SIGINT or after `--duration`, it seals and
  uploads everything and exits 0; exits 1 after `max_failures` consecutive failures (0 = never
  gives up), 2 when the spool cannot be written, 3 when the lake stayed unavailable through the
  final flush (the lines wait in the spool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from orderflow_pipeline.config import Settings
from orderflow_pipeline.live.publisher import Publisher
from orderflow_pipeline.sources.ipot.capture.flush import Flusher
from orderflow_pipeline.sources.ipot.capture.heartbeat import write_heartbeat
from orderflow_pipeline.sources.ipot.capture.session import FeedSession
from orderflow_pipeline.sources.ipot.capture.state import CaptureConfig, CaptureState
from orderflow_pipeline.sources.ipot.client import redact, with_token
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.capture")

BROKER_CLOSE_S = 5.0  # at stop: what the broker has not taken by then is in the lake anyway


class Capture:
    def __init__(self, cfg: CaptureConfig, lake: Lake | Callable[[], Lake], settings: Settings) -> None:
        self.cfg = cfg
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = CaptureState(cfg, lake, settings)
        self.flusher = Flusher(self.state)
        self.feed = FeedSession(self.state, self.flusher)
        if settings.live_broker:
            self.flusher.publisher = Publisher(settings.live_broker, report=self._broker_report)

    def _broker_report(self, problem: str | None) -> None:
        """From the publisher's thread: its outage as the capture's `broker_down` problem."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if problem is None:
            loop.call_soon_threadsafe(self.state.resolved, "broker_down")
        else:
            loop.call_soon_threadsafe(self.state.problem, "broker_down", problem)

    async def _heartbeats(self) -> None:
        st = self.state
        while not st.stop.is_set():
            await asyncio.to_thread(write_heartbeat, st, self.flusher.spool, self.flusher.publisher)
            await st.sleep(self.cfg.heartbeat_seconds)

    async def run(self) -> int:
        st, spool = self.state, self.flusher.spool
        loop = self._loop = asyncio.get_running_loop()
        publisher = self.flusher.publisher
        if publisher is not None:
            publisher.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        recovered = spool.recover()
        st.stats.recovered_lines = recovered
        pending = spool.sealed()
        if pending:
            log.info(
                "capture: %d segments (%d lines) left in the spool by an earlier run; writing them",
                len(pending),
                recovered,
            )
            self.flusher.sealed_ready.set()
        if self.cfg.duration is not None:
            loop.call_later(self.cfg.duration, st.stop.set)
        log.info(
            "capture %s: trading date %s, url %s, spool %s",
            self.cfg.capture_id,
            st.trading_date(),
            redact(with_token(self.cfg.url, self.feed.token)),
            self.cfg.spool,
        )
        uploader = asyncio.create_task(self.flusher.uploader())
        tasks = [
            asyncio.create_task(self.flusher.ticker()),
            asyncio.create_task(self._heartbeats()),
            asyncio.create_task(self.feed.run()),
        ]
        await st.stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.flusher.seal()
        self.flusher.sealed_ready.set()
        st.stats.state = "stopping"
        try:
            await asyncio.wait_for(uploader, timeout=self.cfg.final_flush_timeout)
        except TimeoutError:
            log.error("capture: lake still unavailable at stop")
        left = spool.sealed()
        if left:
            log.error(
                "capture: %d segments stay in the spool %s (lake unavailable); the next start writes them; exit 3",
                len(left),
                self.cfg.spool,
            )
            st.exit_code = st.exit_code or 3
        else:
            log.info("capture: everything flushed (%d lines, %d objects)", st.stats.lines, st.stats.objects)
        spool.close()
        st.stats.state = "stopped" if st.exit_code == 0 else "failed"
        await asyncio.to_thread(write_heartbeat, st, spool, publisher)
        if publisher is not None:  # the last lines and the final heartbeat, if the broker is up
            await asyncio.to_thread(publisher.close, BROKER_CLOSE_S)
        await st.drain_alerts(timeout=10)
        return st.exit_code

    def _on_signal(self, sig: int) -> None:
        log.info("capture: %s received; flushing", signal.Signals(sig).name)
        self.state.stop.set()


def run_capture(cfg: CaptureConfig, settings: Settings, lake: Lake | None = None) -> int:
    """Run a capture until stopped; the lake defaults to the settings' (opened lazily)."""

    async def main() -> int:
        return await Capture(cfg, lake or (lambda: Lake.from_settings(settings)), settings).run()

    return asyncio.run(main())
