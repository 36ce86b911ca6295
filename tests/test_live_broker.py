"""The live broker (ORDERFLOW_LIVE_BROKER, SPEC §16 Source across hosts) on a real Redis
(Debian's redis-server, started here): the capture's publisher and the API's subscriber, with the
engine behind it. Every check compares with the footprint layer's candles of the same lines
(`build_footprint` on a lake holding them), never with hand-written numbers: what is tested is
that the transport neither loses nor doubles a trade.

The real tape (fixtures/real, 386 lines, 386 distinct regular-board trades of 94 tickers) is the
input; the engine's `trades` is its count after de-duplication.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.layers.summary.context import Context
from orderflow_pipeline.live import broker
from orderflow_pipeline.live.engine import LiveEngine
from orderflow_pipeline.live.publisher import Publisher
from orderflow_pipeline.live.service import LiveService
from orderflow_pipeline.live.subscriber import Subscriber
from orderflow_pipeline.storage.lake import Lake
from tests.redisserver import RedisServer, redis_server  # noqa: F401  (the fixture)
from tests.test_live_engine import DAY, RAW, batch_candles

N = 386  # trades (and lines) of the real tape


@pytest.fixture
def tape(real: Path) -> list[bytes]:
    """The real tape's envelope lines, without their newlines (as the capture publishes them)."""
    return (real / RAW).read_bytes().splitlines()


def batch_of(tmp_path: Path, lines: list[bytes], name: str = "batch") -> dict[str, list[dict[str, Any]]]:
    lake = Lake(str(tmp_path / name))
    lake.write_bytes("raw_lt/2026/02/18/02/1771380000000_b_1.jsonl", b"".join(x + b"\n" for x in lines))
    build_footprint(lake, DAY)
    return batch_candles(lake)


def until(pred: Callable[[], bool], timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Replica:
    """One API replica's live path without HTTP: a subscriber feeding an engine."""

    def __init__(self, url: str, lake: Lake | None = None) -> None:
        self.sub = Subscriber(DAY, url, lake, check_every=0.2)
        self.engine = LiveEngine(DAY, Context.none())

    def poll(self) -> int:
        self.engine.add(self.sub.poll(force_lake=True))
        self.engine.recompute()
        return self.engine.trades

    def follow_until(self, trades: int, timeout: float = 20) -> None:
        until(lambda: self.poll() >= trades, timeout, f"{trades} trades (have {self.engine.trades})")

    def candles(self) -> dict[str, list[dict[str, Any]]]:
        return {t: self.engine.candles(t) for t in self.engine.tickers()}

    def close(self) -> None:
        self.sub.close()
        self.engine.close()


def test_engine_counts_a_trade_once_and_the_first_copy_wins(tmp_path: Path, tape: list[bytes]) -> None:
    engine = LiveEngine(DAY, Context.none())
    engine.add(b"".join(x + b"\n" for x in tape))
    # the whole tape again, as another source would deliver it (the same envelope bytes), and
    # again as a feed replay (same raw lines, a later receive time in the envelope)
    engine.add(b"".join(x + b"\n" for x in tape))
    replay = [json.loads(x) | {"ts": 1771390000000} for x in tape[:100]]
    engine.add(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in replay))
    engine.recompute()
    assert (engine.lines, engine.duplicates, engine.held) == (N + N + 100, N + 100, N)
    # a copy of the first trade with a different volume: the first copy wins (§5), as the tape
    # layer decides on the same lines; the candles stay the batch's of the same lines
    env = json.loads(tape[0])
    f = env["raw"].split("|")
    f[7] = str(int(f[7]) + 5)
    env["raw"] = "|".join(f)
    other = json.dumps(env, separators=(",", ":")).encode()
    engine.add(other + b"\n")
    engine.recompute()
    assert engine.held == N and engine.trades == N and engine.duplicates == N + 101
    assert {t: engine.candles(t) for t in batch_of(tmp_path, tape)} == batch_of(
        tmp_path, [*tape, other], "b2"
    )


def test_two_replicas_read_every_trade_each(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    tape: list[bytes],
) -> None:
    pub = Publisher(redis_server.url)
    pub.start()
    a, b = Replica(redis_server.url), Replica(redis_server.url)  # no lake: the broker alone
    try:
        for i in range(0, 200, 25):  # trickled in, the replicas following
            pub.publish(DAY, tape[i : i + 25])
            a.poll()
        a.follow_until(200)
        b.follow_until(200)
        pub.publish(DAY, tape[200:])
        a.follow_until(N)
        b.follow_until(N)
        want = batch_of(tmp_path, tape)
        assert a.candles() == want and b.candles() == want  # each has all, not half (no consumer group)
        assert a.engine.duplicates == b.engine.duplicates == 0
        assert pub.published == N and pub.status()["state"] == "up"
        r = redis_server.client()
        assert r.xlen(broker.stream_key(DAY)) == N
        # the day's key expires a day after the trading date ends (WIB) or, for a past date (this
        # replay of 2026-02-18), a day after its last write; and the day is listed for replicas
        end = int(datetime(2026, 2, 18, 17, 0, tzinfo=timezone.utc).timestamp())  # 19-02 00:00 WIB
        at = r.expiretime(broker.stream_key(DAY))
        assert at - max(end, int(time.time())) in range(broker.KEEP_S - 5, broker.KEEP_S + 1)
        assert broker.expires_at(DAY, end - 3600) == end + 24 * 3600  # published live: fixed
        assert r.zrange(broker.days_key(), 0, -1) == [b"2026-02-18"]
    finally:
        pub.close(5)
        a.close()
        b.close()


def test_redis_killed_and_restarted_mid_stream_loses_nothing(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    tape: list[bytes],
) -> None:
    problems: list[str | None] = []
    pub = Publisher(redis_server.url, report=problems.append)
    pub.start()
    rep = Replica(redis_server.url)  # no lake: what Redis lost must come from the capture's backlog
    try:
        pub.publish(DAY, tape[:100])
        rep.follow_until(100)
        redis_server.kill()  # kill -9; it held the 100 lines, now gone
        pub.publish(DAY, tape[100:250])  # received while Redis is down: kept in the backlog
        until(lambda: pub.state == "down", 10, "the publisher to see the outage")
        assert rep.poll() == 100 and rep.sub.state == "down"
        assert pub.status()["backlog"] == 150 and problems and problems[0] is not None
        assert "unavailable" in problems[0]
        redis_server.start()  # empty again, same port
        pub.publish(DAY, tape[250:])
        rep.follow_until(N)
        assert problems[-1] is None  # resolved
        assert rep.sub.state == "up" and rep.sub.rereads >= 1  # a new stream: read from its start
        assert rep.engine.trades == N and rep.engine.duplicates == 0
        assert rep.candles() == batch_of(tmp_path, tape)
        assert pub.dropped == 0 and pub.published == N
    finally:
        pub.close(5)
        rep.close()


def test_backlog_overflow_reaches_the_api_through_the_lake(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    tape: list[bytes],
) -> None:
    """A broker down longer than the backlog holds: the oldest lines go by the lake only."""
    lake = Lake(str(tmp_path / "lake"))
    redis_server.kill()
    pub = Publisher(redis_server.url, backlog=50)
    pub.start()
    rep = Replica(redis_server.url, lake)
    try:
        pub.publish(DAY, tape[:300])
        until(lambda: pub.state == "down", 10, "the outage")
        assert pub.dropped == 250 and pub.status()["backlog"] == 50
        # the capture's spool segment of those lines, sealed and uploaded (what `orderflow capture`
        # does a flush later, broker or not)
        lake.write_bytes(
            "raw_lt/2026/02/18/02/1771380003400_cap1_300.jsonl", b"".join(x + b"\n" for x in tape[:300])
        )
        assert rep.poll() == 300 and rep.sub.state == "down"
        redis_server.start()
        until(lambda: pub.state == "up", 10, "the publisher to reconnect")  # else the rest overflows too
        for i in range(300, N, 40):  # in bursts the 50-line backlog holds
            pub.publish(DAY, tape[i : i + 40])
            until(lambda: pub.status()["backlog"] == 0, 10, "the burst sent")
        assert pub.dropped == 250
        rep.follow_until(N)
        # the 50 lines of the backlog arrived twice (stream and lake): counted once
        assert rep.engine.trades == N and rep.engine.duplicates == 50
        assert rep.candles() == batch_of(tmp_path, tape)
    finally:
        pub.close(5)
        rep.close()


def test_service_restart_rebuilds_from_lake_and_stream_without_gap_or_double(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
    tape: list[bytes],
) -> None:
    """`orderflow serve`'s live thread with the broker: restarted mid-session, it rebuilds from the
    lake (the sealed part) and the stream from the start of the day (everything), then follows."""
    lake = Lake(str(tmp_path / "lake"))
    pub = Publisher(redis_server.url)
    pub.start()

    def service() -> LiveService:
        svc = LiveService(lambda: [], lambda: lake, lambda d: Context.none(),
                          lambda: datetime(2026, 2, 18, 3, tzinfo=timezone.utc), broker=redis_server.url)  # fmt: skip
        svc.start()
        assert svc.ready.wait(30)
        return svc

    def trades(svc: LiveService) -> int:
        with svc.lock:
            return svc.engine.trades if svc.engine is not None else 0

    try:
        pub.publish(DAY, tape[:150])
        svc = service()
        until(lambda: trades(svc) == 150, 10, "150 trades")
        svc.stop()
        # while it is down: 150 more trades; the first 200 are sealed into the lake meanwhile
        pub.publish(DAY, tape[150:300])
        lake.write_bytes(
            "raw_lt/2026/02/18/02/1771380003400_cap1_200.jsonl", b"".join(x + b"\n" for x in tape[:200])
        )
        until(lambda: pub.published == 300, 10, "published")
        svc = service()
        try:
            with svc.lock:
                assert svc.engine is not None and svc.engine.day == DAY
                assert svc.engine.trades == 300  # ready means rebuilt: no gap, nothing twice
                assert svc.engine.duplicates == 200  # the lake's 200 were in the stream too
            pub.publish(DAY, tape[300:])
            until(lambda: trades(svc) == N, 10, "every trade")
            st = svc.status()
            assert st["status"] == "LIVE" and st["broker"]["state"] == "up" and st["trades"] == N
            with svc.lock:
                assert svc.engine is not None
                got = {t: svc.engine.candles(t) for t in batch_of(tmp_path, tape)}
            assert got == batch_of(tmp_path, tape)
        finally:
            svc.stop()
    finally:
        pub.close(5)
