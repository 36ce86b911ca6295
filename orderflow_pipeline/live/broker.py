"""The Redis Streams layout both sides of the live broker agree on (SPEC §16 Source, across hosts).

`ORDERFLOW_LIVE_BROKER=redis://host:port/db` makes `orderflow capture` publish every trade line it
receives (`live.publisher`) and `orderflow serve` follow them (`live.subscriber`); unset, the API
tails the capture's local spool instead (`live.journal`) and none of this runs.

Layout (all keys under `PREFIX`):
  {PREFIX}:lt:{YYYY-MM-DD}  one stream per trading date; one entry per received line, field `l`
                            = the line's SPEC §5 envelope, byte for byte what the spool holds
  {PREFIX}:days             sorted set of the trading dates published (score = yyyymmdd), so a
                            replica finds the capture's day without scanning a shared keyspace

Bounded by a day key with an expiry, not by MAXLEN: a replica that starts late in the session
rebuilds from the lake plus the stream *from the start of the day*, and the lake may lag the
stream by a flush or by a whole lake outage, so trimming the day's oldest entries could drop trades
that exist nowhere else the replica can read. The day's stream also keeps its first entry for
the whole day, which is how a consumer tells a broker restarted empty from a connection blip
(`subscriber`). The price is memory: one trading day of envelopes (a full-market day ≈ 1.2 M
lines ≈ 0.4 GB); each key expires `KEEP_S` after the end of its trading date (WIB), or after
its last write for a past date replayed, so at most the current and the previous day are held.

Each replica reads the whole stream from its own last id (plain XREAD, no consumer group: a
group would split the trades between replicas, and every replica must show all of them).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from orderflow_pipeline.storage.keys import WIB

PREFIX = "orderflow:live"
FIELD = b"l"
KEEP_S = 24 * 3600  # after the end of the trading date: the next day's replicas can still read it
# Seconds a call may take before the caller treats the broker as down: the capture must never wait
# on it longer (it publishes from its own thread, but the backlog grows while a call hangs).
TIMEOUT_S = 2.0

# What a broker outage raises in redis-py (a restart, a refused connect, a timeout, a reset
# mid-reply); anything else is a bug and is not swallowed.
DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)


def stream_key(day: date) -> str:
    return f"{PREFIX}:lt:{day.isoformat()}"


def days_key() -> str:
    return f"{PREFIX}:days"


def expires_at(day: date, now: float) -> int:
    """Unix time at which the stream of `day` may go: `KEEP_S` after midnight WIB ending it, or
    after `now` for a day published after it ended (a replay of a past date must not be
    deleted the moment it is written)."""
    end = datetime(day.year, day.month, day.day, tzinfo=WIB) + timedelta(days=1)
    return int(max(end.timestamp(), now)) + KEEP_S


def day_score(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def connect(url: str) -> redis.Redis:
    """A client for `url` (validated by config); connects lazily, on the first command."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        health_check_interval=0,
        decode_responses=False,
    )


def newest_day(client: redis.Redis) -> date | None:
    """The newest trading date any capture published (None: none yet)."""
    got: Any = client.zrevrange(days_key(), 0, 0)
    if not got:
        return None
    return date.fromisoformat(bytes(got[0]).decode())


def describe(exc: BaseException) -> str:
    """One line for a log or a status reason, without redis-py's nested wording."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def captures_key() -> str:
    """Hash capture_id -> the capture's latest heartbeat JSON (what the spool copy holds locally)."""
    return f"{PREFIX}:captures"


def redact_url(url: str) -> str:
    """The URL without its password, for logs and alerts."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
