"""The live event log behind `GET /live/stream` (SPEC §16 Interface): ids, resume, resync.

Why one shared ring and a cursor per client instead of a queue per client: the engine publishes
an event once, whatever the number of clients, and never waits for any of them; each client's
bounded backlog is the ring itself (a client may lag at most `capacity` events behind). A client
that falls further behind (stalled, slow link) or reconnects with an id from before the ring, or
from another process or day, gets one `reload` event (fetch the snapshot again) and continues
from the newest event: drop-and-resync, never a slower engine or a slower neighbour.

Ids are `{epoch}-{n}`: the epoch changes with every process and every trading day, so a
Last-Event-ID from before a restart can never be mistaken for one of this log's.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

CAPACITY = 50_000  # events kept for resume (a full-market minute of candle updates and more)


@dataclass(frozen=True)
class Event:
    n: int
    kind: str  # candle | item | status | reload
    ticker: str | None
    data: str  # JSON text

    def frame(self, epoch: str) -> bytes:
        return f"id: {epoch}-{self.n}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


class EventLog:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.epoch = str(time.time_ns())
        self.capacity = capacity
        self._events: list[Event] = []  # consecutive n; trimmed to `capacity` in amortised O(1)
        self._next = 1
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def last_id(self) -> str:
        """The id of the newest event (what a snapshot taken now is current up to)."""
        with self._lock:
            return f"{self.epoch}-{self._next - 1}"

    @property
    def clients(self) -> int:
        """Clients following the log now (one waiter each)."""
        with self._lock:
            return len(self._waiters)

    def reset(self) -> None:
        """A new day (or state): forget the ring, change the epoch; clients get `reload`."""
        with self._lock:
            self.epoch = str(time.time_ns())
            self._events.clear()
            self._next = 1
        self._wake()

    def publish(self, kind: str, data: Any, ticker: str | None = None) -> None:
        """Append one event (any thread); wakes every waiting client, waits for none."""
        self.publish_many([(kind, data, ticker)])

    def publish_many(self, events: list[tuple[str, Any, str | None]]) -> None:
        if not events:
            return
        with self._lock:
            for kind, data, ticker in events:
                text = json.dumps(data, separators=(",", ":"))
                self._events.append(Event(self._next, kind, ticker, text))
                self._next += 1
            if len(self._events) >= 2 * self.capacity:
                del self._events[: len(self._events) - self.capacity]
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # that client's loop is closed
                continue

    def _after(self, cursor: int, epoch: str) -> tuple[list[Event], int, bool]:
        """(events after cursor, new cursor, resync needed)."""
        with self._lock:
            if epoch != self.epoch:
                return [], self._next - 1, True
            oldest = self._events[0].n if self._events else self._next
            if cursor < oldest - 1 or cursor > self._next - 1:
                return [], self._next - 1, True
            return self._events[cursor - oldest + 1 :], self._next - 1, False

    def start(self, last_event_id: str | None) -> tuple[str, int]:
        """(epoch, cursor) for a client: resume after `last_event_id`, or from now."""
        with self._lock:
            now = (self.epoch, self._next - 1)
        if not last_event_id:
            return now
        epoch, _, n = last_event_id.strip().rpartition("-")
        try:
            return epoch, int(n)
        except ValueError:
            return "", 0  # unreadable: resync

    async def follow(
        self, last_event_id: str | None, tickers: Collection[str] | None, *, heartbeat: float = 15.0
    ) -> AsyncIterator[bytes]:
        """SSE frames for one client, forever: what it missed, then each new event as it comes."""
        epoch, cursor = self.start(last_event_id)
        wake = asyncio.Event()
        entry = (asyncio.get_running_loop(), wake)
        with self._lock:
            self._waiters.add(entry)
        try:
            yield b"retry: 1000\n\n"
            while True:
                wake.clear()
                events, cursor, resync = self._after(cursor, epoch)
                if resync:
                    epoch = self.epoch
                    yield Event(cursor, "reload", None, json.dumps({"reason": "resync"})).frame(epoch)
                    continue
                for e in events:
                    if tickers is None or e.ticker is None or e.ticker in tickers:
                        yield e.frame(epoch)
                if not events:
                    try:
                        await asyncio.wait_for(wake.wait(), timeout=heartbeat)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
        finally:
            with self._lock:
                self._waiters.discard(entry)
