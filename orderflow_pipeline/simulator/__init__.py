"""A realistic simulated IDX market: trade tape (`raw_lt/`) and IPOT broker summaries (`raw-broksum/`).

Why a simulator at all: the real fixtures hold seconds of tape and four days of broker summaries,
far too little to exercise 20-session z-scores, the 3-of-5 accumulation rule or every signal of
the table. The simulator writes weeks of market that look like the real feed byte for byte
(same pipe fields, same JSON envelope, same IPOT document), calibrated on the real daily
snapshot of 1,234 tickers, with known *regimes* planted so tests can check that the pipeline
finds them (`planted_regimes`). It is a development tool: no layer of the pipeline imports it,
only the `simulate` and `demo` CLI commands and the tests.

One module per job, in the order a day is made:
- `universe`: which tickers trade, calibrated on the real snapshot;
- `regimes`: the regime planted per ticker-day and the daily plan (open, close, activity, flows);
- `grid`: the IDX tick grid and auto-reject band every price obeys;
- `trades`: one ticker-day of prints (sessions, auctions, boards, order numbers, brokers);
- `brokers`: the broker codes and their foreign/local type;
- `tape`: the day's pipe lines, receipt lags, replays and hourly objects;
- `broksum`: the IPOT broker-summary document of a ticker-day;
- `run`: `simulate_day` / `simulate_range`, which write a lake.

Determinism: every random draw comes from a numpy Generator seeded with (seed, date, ticker) or
(seed, ticker) — never global state — so the same arguments give byte-identical objects.
"""

from __future__ import annotations

from orderflow_pipeline.simulator.brokers import BROKER_TYPE, BROKERS, FOREIGN_BROKERS, LOCAL_BROKERS
from orderflow_pipeline.simulator.broksum import broksum_document
from orderflow_pipeline.simulator.grid import (
    ceil_grid,
    floor_grid,
    on_grid,
    reject_bounds,
    snap_grid,
    tick_size,
)
from orderflow_pipeline.simulator.regimes import (
    ACCUMULATION,
    DISTRIBUTION,
    FALLING_KNIFE,
    ILLIQUID,
    MARKUP,
    NEUTRAL,
    PARAMS,
    REGIMES,
    TRAP,
    DayPlan,
    RegimeParams,
    plan_range,
    planted_regimes,
)
from orderflow_pipeline.simulator.run import simulate_day, simulate_range
from orderflow_pipeline.simulator.tape import (
    OBJECT_MINUTES,
    REPLAY_SHARE,
    DayTape,
    day_tape,
    pipe_lines,
    slice_bytes,
)
from orderflow_pipeline.simulator.trades import (
    BOARD_NG,
    BOARD_RG,
    BOARD_TN,
    BOARDS,
    TickerDay,
    simulate_ticker_day,
)
from orderflow_pipeline.simulator.universe import load_snapshot, load_universe, snapshot_path

__all__ = [
    "ACCUMULATION",
    "BOARDS",
    "BOARD_NG",
    "BOARD_RG",
    "BOARD_TN",
    "BROKERS",
    "BROKER_TYPE",
    "DISTRIBUTION",
    "FALLING_KNIFE",
    "FOREIGN_BROKERS",
    "ILLIQUID",
    "LOCAL_BROKERS",
    "MARKUP",
    "NEUTRAL",
    "OBJECT_MINUTES",
    "PARAMS",
    "REGIMES",
    "REPLAY_SHARE",
    "TRAP",
    "DayPlan",
    "DayTape",
    "RegimeParams",
    "TickerDay",
    "broksum_document",
    "ceil_grid",
    "day_tape",
    "floor_grid",
    "load_snapshot",
    "load_universe",
    "on_grid",
    "pipe_lines",
    "plan_range",
    "planted_regimes",
    "reject_bounds",
    "simulate_day",
    "simulate_range",
    "simulate_ticker_day",
    "slice_bytes",
    "snap_grid",
    "snapshot_path",
    "tick_size",
]
