"""Simulate a day or a range of days into a lake: the simulator's two entry points.

Determinism: every random draw comes from a numpy Generator seeded with (seed, date, ticker) or
(seed, ticker) — never global state — so the same arguments give byte-identical objects, and a
re-run writes nothing that is already there (a new mtime would make every downstream manifest
treat the whole range as new tape).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator.broksum import broksum_document
from orderflow_pipeline.simulator.regimes import DayPlan, plan_range
from orderflow_pipeline.simulator.tape import day_tape
from orderflow_pipeline.simulator.trades import TickerDay, simulate_ticker_day
from orderflow_pipeline.simulator.universe import load_universe
from orderflow_pipeline.storage.keys import WIB, as_date, broksum_key, check_ticker, trade_date_of_raw_key
from orderflow_pipeline.storage.lake import Lake, dumps


def simulate_day(
    lake: Lake,
    d: date | str,
    universe: pd.DataFrame,
    seed: int = 7,
    *,
    plan: DayPlan | None = None,
    trade_scale: float = 0.1,
    replace: bool = True,
) -> dict[str, Any]:
    """Write one trading day's tape objects and broker summaries; returns counts.

    Without `plan` the day is planned on its own (a one-day range). `replace` deletes raw_lt
    objects of the date that this run did not write (a re-run with another seed must not mix
    with the old tape); with the same arguments the same keys and bytes are written again.
    """
    t0 = _time.perf_counter()
    d = as_date(d)
    if not idx_calendar.is_trading_day(d):
        raise ValueError(f"{d} is not an IDX trading day")
    if plan is None:
        plan = plan_range([d], universe, seed)[0]
    tickers = [check_ticker(t) for t in universe["ticker"].tolist()]
    rows = universe.to_dict("records")
    parts: list[tuple[int, TickerDay]] = []
    objects: dict[str, bytes] = {}
    for j, t in enumerate(tickers):
        td = simulate_ticker_day(d, t, rows[j], plan, j, seed, trade_scale)
        if td is not None:
            parts.append((j, td))
            objects[broksum_key(t, d)] = dumps(broksum_document(t, d, td))
        elif plan.zero_file[j]:
            objects[broksum_key(t, d)] = dumps(broksum_document(t, d, None))
    tape = day_tape(d, tickers, parts, plan, seed)
    objects.update(tape.objects)

    if replace:
        _drop_stale(lake, d, objects)
    # Re-simulating the same seed must not touch identical objects: a new mtime would make every
    # downstream manifest treat the whole range as new tape.
    old = lake.cat_many(objects)
    lake.write_many({k: v for k, v in objects.items() if old.get(k) != v})
    return {
        "date": d.isoformat(),
        "tickers": len(parts),
        "trades": tape.trades,
        "replayed": tape.replayed,
        "objects": len(objects),
        "tape_objects": sum(k.startswith("raw_lt/") for k in objects),
        "broksum_files": sum(k.startswith("raw-broksum/") for k in objects),
        "seconds": round(_time.perf_counter() - t0, 3),
    }


def _drop_stale(lake: Lake, d: date, keep: dict[str, bytes]) -> None:
    """Delete the date's raw_lt objects not in `keep` (its receipt hours span two UTC dates)."""
    start = datetime(d.year, d.month, d.day, tzinfo=WIB).astimezone(timezone.utc)
    for day in sorted({start, start + timedelta(hours=23)}):
        for key in lake.list(f"raw_lt/{day:%Y/%m/%d}/"):
            if key not in keep and trade_date_of_raw_key(key) == d:
                lake.delete(key)


def simulate_range(
    lake: Lake,
    start: date | str,
    end: date | str,
    n_tickers: int = 150,
    seed: int = 7,
    progress: bool = False,
    *,
    trade_scale: float = 0.1,
    shared_dir: str | None = None,
) -> dict[str, Any]:
    """Simulate every trading day in [start, end] for the universe of `n_tickers` (drawn from the
    snapshot under `shared_dir`, see `universe.snapshot_path`).

    `trade_scale` thins the number of prints of liquid names (lots per print grow so traded value
    stays at the snapshot's level; names with under 30 trades a day keep their real count): 0.1
    keeps the 30-day demo light, 1.0 reproduces the snapshot's ~940k prints a day for the market.
    """
    t0 = _time.perf_counter()
    days = idx_calendar.trading_days(start, end)
    uni = load_universe(n_tickers, shared_dir)
    plans = plan_range(days, uni, seed)
    it: Iterable[DayPlan] = plans
    if progress:
        from tqdm import tqdm

        it = tqdm(plans, desc="simulate", unit="day")
    per_day = [simulate_day(lake, p.d, uni, seed, plan=p, trade_scale=trade_scale) for p in it]
    return {
        "days": len(days),
        "tickers": len(uni),
        "trades": sum(s["trades"] for s in per_day),
        "replayed": sum(s["replayed"] for s in per_day),
        "objects": sum(s["objects"] for s in per_day),
        "start": days[0].isoformat() if days else None,
        "end": days[-1].isoformat() if days else None,
        "seconds": round(_time.perf_counter() - t0, 3),
    }
