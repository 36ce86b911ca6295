"""Property: the incremental live engine equals the batch build of the same lines, whatever the
order and the chunking (SPEC §16 Engine: "at every moment a ticker's live candles equal what the
footprint layer would build from the trades received so far").

Random streams of a few tickers: prices on a narrow grid (zero ticks are common, so the tick
rule's inheritance runs long), order numbers set on one side, both or neither (the tick-rule
fallback), trades in the auctions and the lunch break (neutral, not in the tick rule's chain),
other boards, unparsable lines, exact replays and different-text copies of a trade number. They
arrive shuffled (late trades land inside zero-tick runs) in random chunks. After every chunk the
engine's candles and summary must equal the batch reference of all lines so far, in arrival
order: the tape layer's `load_tape` (first copy wins by line order) and the footprint layer's
`hour_bodies`, and the summary layer's `summary_from_objects` with the same context.
"""

from __future__ import annotations

import json
import random
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.layers.footprint.build import hour_bodies
from orderflow_pipeline.layers.summary.build import summary_from_objects
from orderflow_pipeline.layers.summary.context import Context, CtxRow
from orderflow_pipeline.live.engine import LiveEngine
from orderflow_pipeline.live.service import LiveService
from orderflow_pipeline.sources.ipot.capture.spool import Spool
from orderflow_pipeline.storage.keys import WIB, footprint_key

DAY = date(2026, 2, 18)  # a Wednesday: continuous 09:00-12:00 and 13:30-15:50 WIB
CTX = Context(
    date(2026, 2, 17), True, {"AAA": CtxRow(1.2, "ACCUMULATION"), "BBB": CtxRow(-0.8, "DISTRIBUTION")}
)
# times (HHMMSS) drawn from: pre-opening, both continuous sessions and their edges, the lunch
# break, pre-closing and post-trading; seconds apart so that many trades share a minute
TIMES = [85500, 85959, 90000, 90001, 90030, 90059, 90100, 90130, 101500, 115959, 120000, 120500,
         133000, 133001, 140000, 140059, 154959, 155000, 160500]  # fmt: skip


def envelope(raw: str) -> bytes:
    return (
        json.dumps({"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": raw, "ts": 1771380000000}).encode()
        + b"\n"
    )


def trade_line(t: str, hms: int, no: int, price: int, vol: int, sides: str, board: str = "RG") -> bytes:
    o13, o14 = {"buy": ("0", "771"), "sell": ("552", "0"), "both": ("552", "771"), "none": ("0", "0")}[sides]
    raw = f"B|{hms:06d}|0|{t}|{board}|{no}|{price}|{vol}|--|-|--|-|1000|{o13}|{o14}|-10|0|1000|0|1"
    return envelope(raw)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    """(lines in arrival order, chunk sizes)."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    lines: list[bytes] = []
    for t in ("AAA", "BBB", "CCC")[: draw(st.integers(1, 3))]:
        for no in range(1, draw(st.integers(1, 60)) + 1):
            hms = rnd.choice(TIMES) + rnd.choice([0, 0, 1, 2])  # ties on trade time: trade number orders
            price = 1000 + rnd.choice([-2, -1, 0, 0, 0, 1, 2])
            sides = rnd.choice(["buy", "sell", "both", "none", "none"])
            line = trade_line(t, hms, no, price, rnd.randint(1, 50), sides)
            lines.append(line)
            roll = rnd.random()
            if roll < 0.1:
                lines.append(line)  # a replay: the same line again
            elif roll < 0.15:  # another text with the same trade number: the first copy wins
                lines.append(trade_line(t, hms, no, price + 1, rnd.randint(1, 50), sides))
            elif roll < 0.2:
                lines.append(trade_line(t, hms, 10_000 + no, price, 5, sides, board="NG"))  # not order flow
            elif roll < 0.22:
                lines.append(b'{"raw": "B|not a trade"}\n')
    rnd.shuffle(lines)  # late trades: a later trade time arrives before an earlier one
    sizes = [rnd.randint(1, 25) for _ in range(len(lines))]
    return lines, sizes


def batch(lines: list[bytes]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """The batch layers' candles per ticker and summary of `lines` (one object, arrival order)."""
    con = duckdb.connect()
    tape.load_tape(con, DAY, [b"".join(lines)])
    objects: dict[str, bytes] = {}
    candles: dict[str, list[dict[str, Any]]] = {}
    for t, h, _, body in hour_bodies(con):
        objects[footprint_key(t, datetime.fromtimestamp(h / 1000, tz=WIB))] = body.encode()
        candles.setdefault(t, []).extend(json.loads(x) for x in body.splitlines())
    con.close()
    return {t: sorted(c, key=lambda x: x["t0"]) for t, c in candles.items()}, dict(
        summary_from_objects(DAY, objects, CTX)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_incremental_engine_equals_the_batch_build(stream: tuple[list[bytes], list[int]]) -> None:
    lines, sizes = stream
    engine = LiveEngine(DAY, CTX)
    try:
        seen: list[bytes] = []
        i = 0
        for n in sizes:
            if i >= len(lines):
                break
            chunk = lines[i : i + n]
            i += n
            seen += chunk
            engine.add(b"".join(chunk))
            engine.recompute()
            want, doc = batch(seen)
            assert {t: engine.candles(t) for t in engine.tickers()} == want
            assert engine.summary is not None
            assert engine.summary["items"] == doc["items"]
            assert engine.summary["count"] == doc["count"] and engine.summary["ctx_date"] == doc["ctx_date"]
    finally:
        engine.close()


def test_a_late_trade_rederives_the_zero_tick_run_it_lands_in() -> None:
    """Hand-worked: trades 1..4 of AAA at 09:00:00..03, all without order numbers (tick rule).
    Arrival 1 (1000), 3 (1001), 4 (1001): 1 has no previous -> 0; 3 vs 1 uptick -> buy; 4 zero
    tick -> inherits buy. Then the late trade 2 at 1002 lands between 1 and 3: 2 vs 1 uptick ->
    buy; 3 vs 2 now a downtick -> sell; 4 zero tick -> inherits sell. So the minute's levels go
    from {1000: 0/0, 1001: bv 2} to {1000: 0/0, 1001: av 2, 1002: bv 1} (1 lot each), delta 2 -> -1."""
    engine = LiveEngine(DAY, Context.none())
    try:
        first = [trade_line("AAA", 90000, 1, 1000, 1, "none"), trade_line("AAA", 90002, 3, 1001, 1, "none"),
                 trade_line("AAA", 90003, 4, 1001, 1, "none")]  # fmt: skip
        engine.add(b"".join(first))
        engine.recompute()
        (c,) = engine.candles("AAA")
        assert c["levels"] == [{"p": 1001, "bv": 2, "av": 0}] and c["delta"] == 2 and c["vol"] == 3
        changes = engine.recompute()
        assert not changes  # nothing new: nothing re-derived
        engine.add(trade_line("AAA", 90001, 2, 1002, 1, "none"))
        changes = engine.recompute()
        (c,) = engine.candles("AAA")
        assert c["levels"] == [{"p": 1001, "bv": 0, "av": 2}, {"p": 1002, "bv": 1, "av": 0}]
        assert c["delta"] == -1 and c["ohlc"] == {"o": 1000, "h": 1002, "l": 1000, "c": 1001}
        assert [t for t, _ in changes.candles] == ["AAA"] and len(changes.items) == 1
        assert engine.trades == 4 and engine.duplicates == 0
        engine.add(first[0])  # a replay of trade 1
        assert not engine.recompute().candles and engine.duplicates == 1 and engine.trades == 4
    finally:
        engine.close()


def test_the_service_rescores_every_item_when_daily_features_changes(tmp_path: Path) -> None:
    """The context is read once per day and again when daily_features changes: a service whose
    context source gains AAA's row mid-session rescores AAA with it (ctx_net 1.2, ACCUMULATION)
    without any new trade; before the change AAA had none."""
    spool = Spool(tmp_path / "spool", "ctx1")
    body = b"".join(trade_line("AAA", 90000 + i, i + 1, 1000 + i % 2, 3, "buy") for i in range(5))
    spool.append(DAY, body, 5)
    spool.fsync()
    ctx = {"now": Context.none()}
    svc = LiveService(lambda: [tmp_path / "spool"], lambda: None, lambda d: ctx["now"],
                      lambda: datetime(2026, 2, 18, 3, tzinfo=timezone.utc), context_every=0.1)  # fmt: skip
    svc.start()
    try:
        assert svc.ready.wait(30)

        def item() -> dict[str, Any]:
            with svc.lock:
                assert svc.engine is not None and svc.engine.summary is not None
                return dict(svc.engine.summary["items"][0])

        assert item()["ctx_st"] is None and item()["ctx_net"] is None
        ctx["now"] = CTX
        deadline = time.monotonic() + 10
        while item()["ctx_st"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (item()["ctx_st"], item()["ctx_net"]) == ("ACCUMULATION", 1.2)
        with svc.lock:
            assert svc.engine is not None and svc.engine.trades == 5
    finally:
        spool.close()
        svc.stop()
