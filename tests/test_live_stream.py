"""The live event log (SPEC §16): ids, Last-Event-ID resume, drop-and-resync of a lagging client."""

from __future__ import annotations

import asyncio

from orderflow_pipeline.live.stream import EventLog


async def frames(log: EventLog, last: str | None, n: int, tickers: set[str] | None = None) -> list[str]:
    """The first n event frames (not the retry/keep-alive lines) a client gets."""
    out: list[str] = []
    gen = log.follow(last, tickers, heartbeat=0.05)
    async for f in gen:
        text = f.decode()
        if text.startswith("id: "):
            out.append(text)
            if len(out) == n:
                break
    await gen.aclose()
    return out


def kinds(fs: list[str]) -> list[tuple[str, str]]:
    return [(f.split("\n")[0][4:].rpartition("-")[2], f.split("\n")[1][7:]) for f in fs]


def test_resume_after_last_event_id_and_filter() -> None:
    log = EventLog(capacity=10)
    log.publish_many([("candle", {"t": "A", "i": i}, "A") for i in range(3)] + [("candle", {"t": "B"}, "B")])
    first = log.last_id  # epoch-4
    log.publish("item", {"t": "A"}, "A")
    log.publish("status", {"trades": 5})
    got = asyncio.run(frames(log, f"{log.epoch}-2", 3, {"A"}))
    # after id 2: id 3 (A), 4 is B (filtered out), 5 item A, 6 status (always sent)
    assert kinds(got) == [("3", "candle"), ("5", "item"), ("6", "status")]
    assert first == f"{log.epoch}-4"


def test_a_client_behind_the_ring_or_from_another_process_reloads() -> None:
    log = EventLog(capacity=3)
    log.publish_many([("candle", {"i": i}, "A") for i in range(10)])  # ring trimmed: ids 1..4 gone
    got = asyncio.run(frames(log, f"{log.epoch}-1", 1))
    assert kinds(got) == [("10", "reload")]  # resync, then it continues from the newest event
    got = asyncio.run(frames(log, "12345-3", 1))  # an id of an earlier process (other epoch)
    assert kinds(got) == [("10", "reload")]
    # a client in the ring gets what it missed, in order
    got = asyncio.run(frames(log, f"{log.epoch}-8", 2))
    assert kinds(got) == [("9", "candle"), ("10", "candle")]
