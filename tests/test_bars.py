"""N-minute bars (bars.resample) and `/footprint-raw-hist?bar=5|15`: the bar's POC and imbalances are
profile.py's own rules applied to the bar's summed levels."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_api import build_world

from orderflow_pipeline.layers.summary.documents import candle
from orderflow_pipeline.read import bars, profile

T0 = 1_770_346_800_000  # 2026-02-06 03:00 UTC = 10:00 WIB, on a 15-minute boundary
M = 60_000


def test_five_minute_bar_worked_by_hand() -> None:
    minutes = [
        candle(T0 + 1 * M, 100, 102, 99, 101, 30, 10, [(100, 5, 5), (101, 10, 0)]),
        candle(T0, 100, 100, 98, 100, 20, -4, [(99, 2, 6), (100, 6, 6)]),  # given out of order
        candle(T0 + 4 * M, 101, 103, 101, 103, 12, 12, [(103, 12, 0)]),
        candle(T0 + 5 * M, 103, 104, 103, 104, 8, 2, [(104, 5, 3)]),  # the next bar
    ]
    first, second = bars.resample(minutes, 5)
    # o = 10:00's open 100, c = 10:04's close 103, h = max(100,102,103), l = min(98,99,101),
    # vol 20+30+12 = 62, delta -4+10+12 = 18; levels summed by price: 99: (2,6), 100: (6+5, 6+5),
    # 101: (10,0), 103: (12,0).
    assert first == {"t0": T0, "ohlc": {"o": 100, "h": 103, "l": 98, "c": 103}, "vol": 62, "delta": 18,
                     "levels": [{"p": 99, "bv": 2, "av": 6}, {"p": 100, "bv": 11, "av": 11},
                                {"p": 101, "bv": 10, "av": 0}, {"p": 103, "bv": 12, "av": 0}]}  # fmt: skip
    assert second["t0"] == T0 + 5 * M and second["vol"] == 8
    assert bars.resample(minutes, 1) == sorted(minutes, key=lambda c: c["t0"])
    assert bars.resample(minutes, 15)[0]["vol"] == 70
    with pytest.raises(ValueError):
        bars.resample(minutes, 0)


def test_raw_hist_bars_carry_profile_rules(tmp_path: Path) -> None:
    world = build_world(tmp_path, n_tickers=3, dates=[date(2026, 2, 10)], summary=False)
    client = TestClient(world.app())
    q = {"kode": "T001", "date": "2026-02-10"}
    one = client.get("/footprint-raw-hist", params=q).json()
    five = client.get("/footprint-raw-hist", params={**q, "bar": 5}).json()
    assert one["bar"] == 1 and one["count"] == 75
    # 09:00-09:44 -> 9 bars, 10:00-10:29 -> 6 bars
    assert five["bar"] == 5 and five["count"] == len(five["candles"]) == len(five["footprint"]) == 15
    assert sum(c["vol"] for c in five["candles"]) == sum(c["vol"] for c in one["candles"])
    assert five["profile"] == one["profile"]  # the day's profile does not depend on the bar length
    for c, fp in zip(five["candles"], five["footprint"], strict=True):
        lv = profile.levels_by_price(c["levels"])
        assert fp["t0"] == c["t0"] and fp["profile"] == profile.volume_profile(lv)
        assert fp["imbalances"] == profile.imbalances(lv)
    bad = client.get("/footprint-raw-hist", params={**q, "bar": 7})
    assert bad.status_code == 400 and "bar" in bad.json()["detail"]
