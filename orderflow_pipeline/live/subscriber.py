"""Where the live engine's lines come from with a live broker: the day's stream (`live.broker`
layout) from the start of the day, plus the day's raw_lt objects in the lake (SPEC §16 Source).

Why the lake as well as the stream: the lake is the system of record and every replica can read
it; whatever the stream lacks (lines the capture could not publish while the broker was down
and its backlog overflowed, lines a broker restarted empty had taken but this replica had not
read yet, a day begun before the broker was set) is in the lake a flush later. Lines met in
both are harmless: the engine counts a trade once (`LiveEngine.add`).

Each replica reads everything from its own last id (XREAD, no consumer group). A broker restarted
empty, or a stream that is not the one read so far, is told by the stream's first entry: it is
fixed for the whole day (no MAXLEN, `live.broker`), so a different one means a different stream
and the replica reads it again from the start (again harmless). That check runs on every
reconnect and every `check_every` s, because redis-py may reconnect under a command without
raising, and a restart between two polls would otherwise go unseen.

A broker that is down never stops the replica: it keeps the lake (and its state so far), logs one
line, shows the broker's state in `/live/status`, and retries with a backoff.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from typing import Any

from orderflow_pipeline.live import broker
from orderflow_pipeline.live.journal import Journal
from orderflow_pipeline.storage.lake import Lake

log = logging.getLogger("orderflow.live")

READ_COUNT = 10_000  # entries per XREAD; a poll reads until the stream has no more
CHECK_S = 2.0
RETRY_CAP_S = 5.0
_START = b"0-0"


def pick_day(url: str) -> date | None:
    """The newest trading date a capture published to the broker (None: none, or unreachable)."""
    client = broker.connect(url)
    try:
        return broker.newest_day(client)
    except broker.DOWN as exc:
        log.warning("live: broker %s unavailable (%s)", broker.redact_url(url), broker.describe(exc))
        return None
    finally:
        client.close()


class Subscriber:
    """New complete lines of trading date `day` from the broker's stream and the lake."""

    def __init__(self, day: date, url: str, lake: Lake | None, *, check_every: float = CHECK_S) -> None:
        self.day = day
        self.url = url
        self.key = broker.stream_key(day)
        self._lake = Journal(day, [], lake)
        self._client = broker.connect(url)
        self._last = _START  # the id read up to
        self._first: bytes | None = None  # the stream's first entry, as read
        self.check_every = check_every
        self._next_check = float("-inf")
        self._retry_at = float("-inf")
        self._delay = 0.0
        self.state = "starting"  # up | down
        self.last_error: str | None = None
        self.entries = 0  # stream entries read (re-reads included)
        self.rereads = 0  # times the stream was read again from the start
        self.captures: list[dict[str, Any]] = []  # the captures' heartbeats, as of the last check
        self.newer_day: date | None = None

    def close(self) -> None:
        self._client.close()

    def status(self) -> dict[str, Any]:
        return {"url": broker.redact_url(self.url), "state": self.state, "entries": self.entries,
                "rereads": self.rereads, "last_error": self.last_error}  # fmt: skip

    def poll(self, *, force_lake: bool = False) -> bytes:
        """Lines that arrived since the last poll (the stream's in id order, then the lake's new objects)."""
        parts: list[bytes] = []
        now = time.monotonic()
        if now >= self._retry_at:
            try:
                if self.state != "up" or now >= self._next_check:
                    self._check()
                    self._next_check = now + self.check_every
                self._read(parts)
                self._up()
            except broker.DOWN as exc:
                self._down(exc)
        parts.append(self._lake.poll(force_lake=force_lake))
        return b"".join(parts)

    # -- the stream ----------------------------------------------------------------------------
    def _check(self) -> None:
        """Is it still the stream read so far? A newer day? The captures' heartbeats."""
        pipe = self._client.pipeline(transaction=False)
        pipe.xrange(self.key, "-", "+", count=1)
        pipe.zrevrange(broker.days_key(), 0, 0)
        pipe.hgetall(broker.captures_key())
        head, newest, beats = pipe.execute()
        first = bytes(head[0][0]) if head else None
        if self._first is not None and first != self._first:
            self.rereads += 1
            log.warning("live: stream %s is not the one read so far (broker restarted?); reading it again "
                        "from the start", self.key)  # fmt: skip
            self._last, self._first = _START, None
        if newest:
            # a later day, or (nothing read yet) another day: the one the capture is on
            # (`LiveService._pick_day` picks the newest published day the same way)
            d = date.fromisoformat(bytes(newest[0]).decode())
            if d > self.day or (d != self.day and self.entries == 0):
                self.newer_day = d
        docs = []
        for raw in dict(beats).values():
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict):
                docs.append(doc)
        self.captures = docs

    def _read(self, parts: list[bytes]) -> None:
        while True:
            got: Any = self._client.xread({self.key: self._last}, count=READ_COUNT)
            if not got:
                return
            entries = got[0][1]
            if self._first is None and self._last == _START:
                self._first = bytes(entries[0][0])
            for _, fields in entries:
                line = fields.get(broker.FIELD)
                if line:
                    parts.append(bytes(line) + b"\n")
            self._last = bytes(entries[-1][0])
            self.entries += len(entries)
            if len(entries) < READ_COUNT:
                return

    def _up(self) -> None:
        if self.state == "down":
            log.info("live: broker %s reachable again; following %s from %s",
                     broker.redact_url(self.url), self.key, self._last.decode())  # fmt: skip
        self.state, self._delay, self.last_error = "up", 0.0, None

    def _down(self, exc: BaseException) -> None:
        self._delay = min(RETRY_CAP_S, max(0.25, self._delay * 2))
        self._retry_at = time.monotonic() + self._delay
        self.last_error = broker.describe(exc)
        if self.state != "down":
            log.warning("live: broker %s unavailable (%s); serving the lake's trades, retrying",
                        broker.redact_url(self.url), self.last_error)  # fmt: skip
        self.state = "down"
