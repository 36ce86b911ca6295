"""The live engine equals the batch layers after every chunk of arriving tape (SPEC §16 Engine).

Differential, not golden: the real tape (and a simulated multi-hour day) is cut into chunks;
after each chunk the engine's candles for every ticker must equal the footprint layer's hour
files built (incrementally, `build_footprint`) from a lake holding exactly the chunks so far,
and the live summary's items must equal the lake summary's items. Orders tried: arrival order,
a shuffled order (late trades arrive after later ones, so the tick rule and OHLC are re-derived),
and a chunk delivered twice (a reconnect replay: counted once).
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.layers.summary.build import summary_from_lake
from orderflow_pipeline.layers.summary.context import Context, load_context
from orderflow_pipeline.live.engine import LiveEngine
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.inventory import tape_objects
from orderflow_pipeline.storage.keys import parse_footprint_key
from orderflow_pipeline.storage.lake import Lake

DAY = date(2026, 2, 18)
RAW = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"


def batch_candles(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    """Every ticker's candles in the lake's footprint files, t0 order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(lake.list("footprint/")):
        t, _ = parse_footprint_key(key)
        out.setdefault(t, []).extend(json.loads(x) for x in lake.read_bytes(key).decode().splitlines())
    return {t: sorted(cs, key=lambda c: c["t0"]) for t, cs in out.items()}


def chunks_of(data: bytes, sizes: list[int]) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    out, i = [], 0
    for n in sizes:
        out.append(b"".join(lines[i : i + n]))
        i += n
    if i < len(lines):
        out.append(b"".join(lines[i:]))
    return [c for c in out if c]


def context_con() -> duckdb.DuckDBPyConnection:
    """A daily_features table with context for three of the tape's tickers on the day before."""
    con = duckdb.connect()
    con.execute("CREATE TABLE daily_features (date DATE, ticker VARCHAR, z_ngr DOUBLE, state VARCHAR)")
    con.executemany(
        "INSERT INTO daily_features VALUES (?, ?, ?, ?)",
        [
            (date(2026, 2, 17), "ADRO", 1.2, "ACCUMULATION"),
            (date(2026, 2, 17), "BELL", -0.9, "DISTRIBUTION"),
            (date(2026, 2, 17), "EXCL", None, "NEUTRAL"),  # unusable (null z): no context
        ],
    )
    return con


def assert_same(engine: LiveEngine, lake: Lake, ctx_con: duckdb.DuckDBPyConnection, step: str) -> None:
    want = batch_candles(lake)
    assert want, step
    got = {t: engine.candles(t) for t in want}
    assert got == want, step
    # no ticker live that the batch lacks
    assert set(engine.tickers()) == set(want), step
    batch = summary_from_lake(lake, DAY, ctx_con)
    assert engine.summary is not None
    live = engine.summary
    assert live["source"] == "live"
    assert live["items"] == batch["items"], step
    assert {k: v for k, v in live.items() if k not in ("generated_at", "source")} == {
        k: v for k, v in batch.items() if k not in ("generated_at", "source")
    }, step


def run_differential(tmp_path: Path, chunks: list[bytes], order: list[int], name: str) -> LiveEngine:
    lake = Lake(str(tmp_path / name))
    con = context_con()
    engine = LiveEngine(DAY, load_context(con, DAY))
    for step, k in enumerate(order):
        # a lake object per delivery: a replayed chunk lands as its own object, as a reconnect does
        lake.write_bytes(
            f"raw_lt/2026/02/18/02/{1771380000000 + step}_live_{len(chunks[k])}.jsonl", chunks[k]
        )
        build_footprint(lake, DAY)
        engine.add(chunks[k])
        engine.recompute()
        assert_same(engine, lake, con, f"{name}: after delivery {step} (chunk {k})")
    return engine


@pytest.fixture
def real_tape(real: Path) -> bytes:
    return (real / RAW).read_bytes()


def test_context_is_used(real_tape: bytes) -> None:
    """Guard for the differential: the context rows reach the items (else the summary check above
    would compare two context-free documents)."""
    ctx = load_context(context_con(), DAY)
    assert ctx.found and set(ctx.rows) == {"ADRO", "BELL"}
    engine = LiveEngine(DAY, ctx)
    engine.add(real_tape)
    engine.recompute()
    assert engine.summary is not None
    by_t = {i["t"]: i for i in engine.summary["items"]}
    assert by_t["ADRO"]["ctx_st"] == "ACCUMULATION" and by_t["ADRO"]["ctx_net"] == 1.2
    assert by_t["EXCL"]["ctx_st"] is None
    assert engine.summary["ctx_date"] == "2026-02-17"


def test_real_tape_in_arrival_order(tmp_path: Path, real_tape: bytes) -> None:
    chunks = chunks_of(real_tape, [1, 40, 7, 90, 3, 120])
    engine = run_differential(tmp_path, chunks, list(range(len(chunks))), "arrival")
    # 386 lines, all regular-board trades with distinct (ticker, trade number): every one counts
    assert engine.trades == 386


def test_real_tape_shuffled_and_replayed(tmp_path: Path, real_tape: bytes) -> None:
    lines = real_tape.splitlines(keepends=True)
    random.Random(26).shuffle(lines)  # late trades: later trade times arrive before earlier ones
    chunks = chunks_of(b"".join(lines), [50, 1, 77, 5, 100])
    order = [2, 0, 2, 4, 1, 3, 5, 0]  # chunk 2 and chunk 0 arrive twice (a reconnect's replay)
    engine = run_differential(tmp_path, chunks, order, "shuffled")
    assert engine.trades == 386  # the replayed chunks counted once


def rewrite(line: bytes, i: int) -> bytes:
    env = json.loads(line)
    f = env["raw"].split("|")
    if i % 4 == 0:
        f[13] = f[14] = "0"
    if i % 50 == 0:
        f[4] = "NG"
    env["raw"] = "|".join(f)
    return json.dumps(env, separators=(",", ":")).encode() + b"\n"


def test_simulated_day_across_hours(tmp_path: Path) -> None:
    """A whole simulated session (auctions, both sessions, several UTC hours, tick-rule trades):
    chunks delivered out of order, one twice."""
    sim = Lake(str(tmp_path / "source"))
    simulate_range(sim, DAY, DAY, n_tickers=4, seed=7)
    tape = b"".join(sim.read_bytes(k) for k in tape_objects(sim, DAY))
    # The simulator sets exactly one order number in the continuous session; clear both on every
    # 4th line and move every 50th to the negotiated board, so the tick-rule fallback (ordered by
    # trade time and number, whatever the arrival order) and the board filter decide candles too.
    lines = [rewrite(x, i) for i, x in enumerate(tape.splitlines(keepends=True))]
    tape = b"".join(lines)
    assert len(lines) > 1000
    n = len(lines)
    chunks = chunks_of(tape, [n // 5, n // 7, n // 3, 11, n // 9])
    order = [1, 0, 3, 2, 5, 1, 4]
    engine = run_differential(tmp_path, chunks, order, "sim")
    assert engine.summary is not None and engine.summary["count"] == 4


def test_empty_engine_has_no_summary() -> None:
    engine = LiveEngine(DAY, Context.none())
    assert engine.recompute().candles == [] and engine.summary is None and engine.trades == 0
