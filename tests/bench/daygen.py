"""A realistic full-market day of footprint hour files for the warehouse benchmark.

Liquidity follows the real IDX daily snapshot (fixtures/real/idx_daily_snapshot.csv): the most
traded names print almost every minute with many price levels, thin names a few minutes an hour.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from orderflow_pipeline.storage.keys import TICKER_RE, footprint_key

# UTC hours of an IDX day (WIB 08:45 pre-open .. 15:50 close): 01, 02, 03, 04, 06, 07, 08.
SESSION_HOURS_UTC = (1, 2, 3, 4, 6, 7, 8)


def tick_size(price: int) -> int:
    return 1 if price < 200 else 2 if price < 500 else 5 if price < 2000 else 10 if price < 5000 else 25


def load_liquidity(real: Path, n_tickers: int) -> list[tuple[str, int, int]]:
    """(ticker, close, frequency) of the n most-traded real tickers."""
    rows = []
    with open(real / "idx_daily_snapshot.csv") as fh:
        for r in csv.DictReader(fh):
            if TICKER_RE.match(r["ticker"]) and int(r["close"] or 0) > 0:
                rows.append((r["ticker"], int(r["close"]), int(r["frequency"] or 0)))
    rows.sort(key=lambda x: -x[2])
    return rows[:n_tickers]


def make_market_day(real: Path, d: date, n_tickers: int = 900, seed: int = 7) -> dict[str, bytes]:
    """Footprint NDJSON objects (key -> bytes) for every ticker-hour of date `d`."""
    rng = np.random.default_rng(seed)
    day0 = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)  # UTC hours 01..08 = WIB 08..15
    objects: dict[str, bytes] = {}
    liq = load_liquidity(real, n_tickers)
    freqs = np.array([f for _, _, f in liq], float)
    # Share of minutes with a trade: ~0.9 for the most liquid names, ~0.05 for the thinnest.
    activity = np.clip(0.06 + 0.9 * (np.log1p(freqs) / np.log1p(freqs.max())) ** 1.5, 0.05, 0.95)
    for (ticker, close, _), act in zip(liq, activity, strict=True):
        tick = tick_size(close)
        price = close
        for hh in SESSION_HOURS_UTC:
            hour = day0 + timedelta(hours=hh)
            lines = []
            for minute in np.flatnonzero(rng.random(60) < act):
                n_lv = int(min(12, 1 + rng.poisson(2 + 8 * act)))
                lo = max(tick, price + tick * int(rng.integers(-n_lv, 1)))
                prices = [lo + tick * k for k in range(n_lv)]
                bv = rng.integers(0, 500, n_lv) * (rng.random(n_lv) < 0.8)
                av = rng.integers(0, 500, n_lv) * (rng.random(n_lv) < 0.8)
                keep = (bv + av) > 0
                if not keep.any():
                    bv[0] = 1
                    keep[0] = True
                lv = [
                    {"p": int(p), "bv": int(b), "av": int(a)}
                    for p, b, a, k in zip(prices, bv, av, keep, strict=True)
                    if k
                ]
                o = lv[int(rng.integers(0, len(lv)))]["p"]
                c = lv[int(rng.integers(0, len(lv)))]["p"]
                sb, sa = sum(x["bv"] for x in lv), sum(x["av"] for x in lv)
                auction = int(rng.integers(0, 50)) if hh == 1 else 0
                t0 = int(hour.timestamp() * 1000) + int(minute) * 60_000
                lines.append(
                    json.dumps(
                        {
                            "t0": t0,
                            "ohlc": {"o": o, "h": lv[-1]["p"], "l": lv[0]["p"], "c": c},
                            "vol": sb + sa + auction,
                            "delta": sb - sa,
                            "levels": lv,
                        },
                        separators=(",", ":"),
                    )
                )
                price = c
            if lines:
                objects[footprint_key(ticker, hour)] = ("\n".join(lines) + "\n").encode()
    return objects
