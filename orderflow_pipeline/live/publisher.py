"""The capture's side of the live broker: every received trade line XADDed to the day's stream
(`live.broker` layout), from a thread of its own, so the broker can never block or fail a capture.

When: `Flusher.append` hands the lines over right after their `os.write` into the open spool
segment and before any fsync, seal or lake write, so the broker sees a trade as soon as the
capture has it, and never a trade the capture's own spool (hence the lake) will not have.

Broker down (refused, reset, restarted, timing out): the lines wait in an in-memory backlog of at
most `backlog` lines, in arrival order, and go out when the broker answers again; the capture
logs one line, raises one `broker_down` problem (heartbeat, alert) and carries on writing its
spool and the lake as always. A backlog that overflows drops its oldest lines from the *broker*
path only: they are in the spool and reach the lake, and every replica also reads the lake
(`live.subscriber`), so they reach the API a flush later instead of at once. A pipeline cut off
mid-way may have written part of a batch that is then sent again: a duplicate, which the
engine counts once (same envelope, same trade number).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from orderflow_pipeline.live import broker

log = logging.getLogger("orderflow.capture")

BACKLOG_LINES = 200_000  # ≈ 11 min at the whole exchange's peak (300 trades/s), ≈ 60 MB
BATCH_LINES = 2_000  # lines per pipelined round trip
RETRY_CAP_S = 5.0

# (problem message or None when resolved): the capture turns it into its `broker_down` problem
Report = Callable[[str | None], None]


class Publisher:
    def __init__(self, url: str, *, backlog: int = BACKLOG_LINES, report: Report | None = None) -> None:
        self.url = url
        self.backlog = backlog
        self._report = report
        self._client = broker.connect(url)
        self._queue: collections.deque[tuple[date, bytes]] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._heartbeat: tuple[str, bytes] | None = None
        self._thread: threading.Thread | None = None
        self.state = "starting"  # up | down
        self.published = 0  # lines the broker acknowledged
        self.dropped = 0  # lines left to the lake path (backlog overflow or still queued at stop)
        self.down_since: float | None = None
        self.last_error: str | None = None

    # -- the capture's calls (its event loop thread): never block ----------------------------
    def publish(self, day: date, lines: list[bytes]) -> None:
        """Queue envelope lines (without their newline) of trading date `day`."""
        with self._cond:
            self._queue.extend((day, x) for x in lines)
            self._trim()
            self._cond.notify()

    def heartbeat(self, capture_id: str, doc: bytes) -> None:
        """The newest heartbeat only (an older one is worth nothing once a newer exists)."""
        with self._cond:
            self._heartbeat = (capture_id, doc)
            self._cond.notify()

    def status(self) -> dict[str, Any]:
        with self._cond:
            queued = len(self._queue)
        return {"url": broker.redact_url(self.url), "state": self.state, "published": self.published,
                "backlog": queued, "dropped": self.dropped, "last_error": self.last_error}  # fmt: skip

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="orderflow-broker", daemon=True)
        self._thread.start()

    def close(self, timeout: float) -> None:
        """Send what is queued for at most `timeout` s (the capture is stopping), then stop."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout + broker.TIMEOUT_S + 1)
        with self._cond:
            if self._queue:
                self.dropped += len(self._queue)
                log.warning("capture: %d lines not published to the live broker at stop; "
                            "the API reads them from the lake", len(self._queue))  # fmt: skip
                self._queue.clear()
        self._client.close()

    # -- the publisher thread --------------------------------------------------------------------
    def _trim(self) -> None:
        over = len(self._queue) - self.backlog
        if over > 0:
            for _ in range(over):
                self._queue.popleft()
            if self.dropped == 0 or (self.dropped + over) // 10_000 > self.dropped // 10_000:
                log.warning("capture: live broker backlog full (%d lines); the oldest go by the lake only",
                            self.backlog)  # fmt: skip
            self.dropped += over

    def _take(self) -> tuple[list[tuple[date, bytes]], tuple[str, bytes] | None] | None:
        """The next batch (taken off the queue), or None when it is time to stop."""
        with self._cond:
            while not self._queue and self._heartbeat is None and not self._closing:
                self._cond.wait(1.0)
            if self._closing and (not self._queue or time.monotonic() >= self._deadline):
                return None
            n = min(len(self._queue), BATCH_LINES)
            batch = [self._queue.popleft() for _ in range(n)]
            beat, self._heartbeat = self._heartbeat, None
            return batch, beat

    def _give_back(self, batch: list[tuple[date, bytes]], beat: tuple[str, bytes] | None) -> None:
        with self._cond:
            self._queue.extendleft(reversed(batch))
            self._trim()
            if self._heartbeat is None:
                self._heartbeat = beat

    def _send(self, batch: list[tuple[date, bytes]], beat: tuple[str, bytes] | None) -> None:
        pipe = self._client.pipeline(transaction=False)
        for day, line in batch:
            pipe.xadd(broker.stream_key(day), {broker.FIELD: line})
        now = time.time()
        for day in sorted({d for d, _ in batch}):
            pipe.expireat(broker.stream_key(day), broker.expires_at(day, now))
            pipe.zadd(broker.days_key(), {day.isoformat(): broker.day_score(day)})
        if beat is not None:
            pipe.hset(broker.captures_key(), beat[0], beat[1])
        pipe.execute()

    def _run(self) -> None:
        delay = 0.0
        while True:
            got = self._take()
            if got is None:
                return
            batch, beat = got
            try:
                self._send(batch, beat)
            except broker.DOWN as exc:
                self._give_back(batch, beat)
                self._down(exc)
                delay = min(RETRY_CAP_S, max(0.25, delay * 2))
                with self._cond:  # wake early only to stop (once stopping, keep retrying to the deadline)
                    if self._closing:
                        self._cond.wait(min(delay, 0.25))
                    else:
                        self._cond.wait_for(lambda: self._closing, timeout=delay)
                continue
            delay = 0.0
            self.published += len(batch)
            if self.state != "up":
                self._up()

    def _down(self, exc: BaseException) -> None:
        self.last_error = broker.describe(exc)
        if self.state == "down":
            return
        self.state, self.down_since = "down", time.monotonic()
        msg = (f"live broker {broker.redact_url(self.url)} unavailable ({self.last_error}); "
               f"keeping up to {self.backlog} lines for it, capturing to the spool and lake as always")  # fmt: skip
        log.error("capture: %s", msg)
        if self._report is not None:
            self._report(msg)

    def _up(self) -> None:
        was_down = self.state == "down"
        self.state, self.last_error = "up", None
        if was_down and self.down_since is not None:
            log.info("capture: live broker reachable again after %.1f s; backlog sent",
                     time.monotonic() - self.down_since)  # fmt: skip
            self.down_since = None
            if self._report is not None:
                self._report(None)
