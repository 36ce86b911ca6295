"""Issue 16 acceptance: one wild price in a minute of good trades costs only its own line.

Before bounds.py the tape accepted a 15-digit price, the warehouse's candle check rejected the
whole candle (price > 2^31 - 1), and the minute's good trades vanished from `footprint_1m` and the
summary (v 10 instead of 50). Now the tape layer quarantines that one line with its reason; the
candle built from the rest is within the warehouse's bounds by construction. Run through the real
layers: Dagster `materialize` of footprint_ndjson -> footprint_1m -> footprint_summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from assets.layers.footprint import footprint_ndjson
from assets.layers.summary import footprint_summary
from assets.layers.warehouse import footprint_1m
from assets.resources import build_resources
from orderflow_pipeline import bounds
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.layers.summary import build as summary
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

D = "2026-02-18"  # a Wednesday; hour folder 03 UTC = 10:00 WIB
TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"  # the real sample: 93 other tickers
WILD_KEY = "raw_lt/2026/02/18/03/wild.jsonl"
T0 = 1771383600000  # 2026-02-18 03:00 UTC = 10:00 WIB, the minute of the WILD trades
WILD_PRICE = "123456789012345"  # 15 digits: the value that used to cost its whole minute


def line(
    tno: int | str, tt: str, price: str, lots: int, o13: str = "00", o14: str = "00", prev: str = "1000"
) -> str:
    raw = f"B|{tt}|0|WILD|RG|{tno}|{price}|{lots}|--|-|--|-|{prev}|{o13}|{o14}|0|0|1000|0|1"
    return json.dumps({"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": raw, "ts": 0}) + "\n"


@pytest.mark.parametrize(
    "wild,reason",
    [
        (WILD_PRICE, f"price out of bounds: {WILD_PRICE} (1..{bounds.PRICE_MAX} IDR)"),
        # issue 29: within PRICE_MAX, but 1,000,000x the previous close of 1000 (field [12]);
        # the plausible range around 1000 is 666..1501 (bounds.plausible_price_range, worked there)
        (
            "999999999",
            "price outside the auto-rejection band: 999999999 vs previous close 1000 "
            "(666..1501 IDR: the band with the margin of bounds.py)",
        ),
    ],
)
def test_one_wild_price_is_quarantined_and_its_minute_survives(
    instance: DagsterInstance, real: Path, wild: str, reason: str
) -> None:
    lake = Lake.from_settings(get_settings())
    lake.write_bytes(TAPE_KEY, (real / TAPE_KEY).read_bytes())
    # Five good trades of 10 lots in the 10:00 WIB minute, and the wild one in the middle of them.
    # Worked by hand: o = 1000 (first, #1), c = 1010 (last, #6), h = 1010, l = 995; vol = 5 x 10 = 50;
    # buys (o14 set) #1 1000 x10, #2 1005 x10, #6 1010 x10 = 30; sells (o13 set) #3 995 x10,
    # #5 1000 x10 = 20; delta = 30 - 20 = 10; levels 995: av 10, 1000: bv 10 av 10, 1005: bv 10,
    # 1010: bv 10. With the wild line kept the candle would be h = 123456789012345 > 2^31 - 1.
    body = "".join(
        [
            line(1, "100000", "1000", 10, o14="1"),
            line(2, "100005", "1005", 10, o14="2"),
            line(3, "100010", "995", 10, o13="3"),
            line(4, "100015", wild, 7, o14="4"),  # line 4: the wild one
            line(5, "100020", "1000", 10, o13="5"),
            line(6, "100030", "1010", 10, o14="6"),
        ]
    ).encode()
    lake.write_bytes(WILD_KEY, body)

    res = materialize(
        [footprint_ndjson, footprint_1m, footprint_summary],
        partition_key=D,
        resources=build_resources(),
        instance=instance,
        run_config={"ops": {"footprint_summary": {"config": {"source": "warehouse"}}}},
    )
    assert res.success

    # the tape layer: the wild line, and only it, in quarantine with its reason
    q = lake.read_ndjson(keys.quarantine_key(D, "footprint", WILD_KEY))
    assert [(r["line_no"], r["reason"]) for r in q] == [(4, reason)]

    # the hour file: the candle of the five good trades
    [candle] = lake.read_ndjson("footprint/WILD/1m/2026/02/18/03.jsonl")
    assert candle == {
        "t0": T0,
        "ohlc": {"o": 1000, "h": 1010, "l": 995, "c": 1010},
        "vol": 50,
        "delta": 10,
        "levels": [
            {"p": 995, "bv": 0, "av": 10},
            {"p": 1000, "bv": 10, "av": 10},
            {"p": 1005, "bv": 10, "av": 0},
            {"p": 1010, "bv": 10, "av": 0},
        ],
    }

    # the warehouse took the candle (nothing of the footprint layer's output is rejected there)
    con = duckdb.connect(get_settings().warehouse_target.location, read_only=True)
    try:
        row = con.execute(
            "SELECT open, high, low, close, vol, delta, buy_vol, sell_vol FROM footprint_1m "
            "WHERE ticker = 'WILD' AND time_key = ?",
            [T0],
        ).fetchone()
        wh_q = con.execute("SELECT coalesce(sum(quarantined), 0) FROM ingest_manifest").fetchone()
        n_rows = con.execute("SELECT count(*) FROM footprint_1m").fetchone()
    finally:
        con.close()
    assert row == (1000, 1010, 995, 1010, 50, 10, 30, 20)
    # 93 real tickers' minute + the PJHB-W warrant's (SPEC §7: a trade, no longer quarantined) + WILD's
    assert wh_q == (0,) and n_rows == (95,)

    # the summary (built from the warehouse): WILD's day volume is the minute's 50 lots, not 10
    doc = lake.read_json(keys.summary_key(D))
    assert doc["source"] == "warehouse"
    [item] = [i for i in doc["items"] if i["t"] == "WILD"]
    assert (item["v"], item["h"], item["l"]) == (50, 1010, 995)
    # and straight from the lake's hour files (the fallback path) the same
    lake_doc = summary.summary_from_lake(lake, D, None)
    [lake_item] = [i for i in lake_doc["items"] if i["t"] == "WILD"]
    assert (lake_item["v"], lake_item["h"], lake_item["l"]) == (50, 1010, 995)


def test_trades_at_the_bounds_build_candles_the_warehouse_validator_accepts(tmp_path: Path) -> None:
    """The derivation in bounds.py, end to end: trades exactly at the per-trade bounds give candles
    the candle validator accepts; one step beyond a bound is quarantined at the tape instead.
    The previous close ([12]) is 0, so the price band (issue 29) does not judge these trades:
    PRICE_MAX and 1 IDR are far outside the band of any one previous close."""
    from orderflow_pipeline.layers.footprint import build as footprint
    from orderflow_pipeline.layers.footprint import candles
    from orderflow_pipeline.layers.footprint.hour_files import footprint_files

    lake = Lake(str(tmp_path / "lake"))
    top, lots = str(bounds.PRICE_MAX), bounds.LOTS_PER_TRADE_MAX
    body = "".join(
        [
            line(1, "100000", top, lots, o14="1", prev="0"),  # the dearest, largest trade allowed: a buy
            line(
                2, "100001", "1", lots, o13="9223372036854775807", prev="0"
            ),  # the cheapest; [13] = 2^63 - 1
            line(3, "100002", top, lots, o14="3", prev="0"),
            line(4, "100003", str(bounds.PRICE_MAX + 1), 1, o14="4", prev="0"),  # beyond: quarantined
            line(5, "100004", "1000", lots + 1, o14="5", prev="0"),  # beyond: quarantined
            line(str(bounds.TRADE_NO_MAX + 1), "100005", "1000", 1, o14="6", prev="0"),
        ]
    ).encode()
    lake.write_bytes(WILD_KEY, body)
    res = footprint.build_footprint(lake, D)
    assert (res.trades, res.quarantined) == (3, 3)
    files = {k: lake.read_bytes(k) for k in footprint_files(lake, keys.as_date(D))}
    v = candles.validate_objects(files)
    assert v.rejects == [] and v.candles.num_rows == 1
    # worked: vol 3 x 10^6; buys #1 and #3 = 2 x 10^6, sell #2 = 10^6 -> delta 10^6;
    # o = PRICE_MAX (#1), l = 1 (#2), c = PRICE_MAX (#3)
    row = v.candles.to_pylist()[0]
    p = bounds.PRICE_MAX
    assert (row["open"], row["high"], row["low"], row["close"]) == (p, p, 1, p)
    assert (row["vol"], row["delta"], row["buy_vol"], row["sell_vol"]) == (3 * lots, lots, 2 * lots, lots)
