"""The footprint candle validator (SPEC §6): real fixture sums, every rejection rule, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from orderflow_pipeline.layers.footprint.candles import CANDLE_SCHEMA, LEVEL_SCHEMA, validate_objects

BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"
HOUR_MS = 1770346800000  # 2026-02-06 03:00 UTC = 10:00 WIB


def line(
    t0: int = HOUR_MS,
    o: int = 100,
    h: int = 110,
    lo: int = 95,
    c: int = 105,
    vol: int = 30,
    delta: int | None = None,
    levels: list[dict] | None = None,
) -> bytes:
    levels = levels if levels is not None else [{"p": 100, "bv": 10, "av": 5}, {"p": 105, "bv": 7, "av": 3}]
    if delta is None:
        delta = sum(x["bv"] for x in levels) - sum(x["av"] for x in levels)
    return json.dumps(
        {"t0": t0, "ohlc": {"o": o, "h": h, "l": lo, "c": c}, "vol": vol, "delta": delta, "levels": levels}
    ).encode()


def test_real_bbri_hour_sums_equal_the_file(real: Path) -> None:
    raw = (real / "footprint/BBRI/1m/2026/02/06/03.jsonl").read_bytes()
    lines = [json.loads(x) for x in raw.splitlines()]
    v = validate_objects({BBRI_KEY: raw})
    assert v.rejects == []
    assert v.candles.schema == CANDLE_SCHEMA and v.levels.schema == LEVEL_SCHEMA
    assert v.candles.num_rows == len(lines) == 60
    assert pc.sum(v.candles["vol"]).as_py() == sum(x["vol"] for x in lines)
    assert pc.sum(v.candles["delta"]).as_py() == sum(x["delta"] for x in lines)
    assert pc.sum(v.candles["buy_vol"]).as_py() == sum(lv["bv"] for x in lines for lv in x["levels"])
    assert pc.sum(v.candles["sell_vol"]).as_py() == sum(lv["av"] for x in lines for lv in x["levels"])
    assert v.levels.num_rows == sum(len(x["levels"]) for x in lines)
    first = v.candles.slice(0, 1).to_pylist()[0]
    # First line: t0 1770346800000, o/h/l/c 3810/3820/3810/3810, vol 325, delta -45, bv 80, av 125.
    assert first == {
        "ticker": "BBRI",
        "date": first["date"],
        "time_key": 1770346800000,
        "open": 3810,
        "high": 3820,
        "low": 3810,
        "close": 3810,
        "vol": 325,
        "delta": -45,
        "buy_vol": 80,
        "sell_vol": 125,
        "source_key": BBRI_KEY,
    }
    assert str(first["date"]) == "2026-02-06"  # 10:00 WIB
    assert set(v.candles["ticker"].to_pylist()) == {"BBRI"}


@pytest.mark.parametrize(
    "bad, reason",
    [
        (b'{"t0":1770346800000,"ohlc":{"o":100', "truncated line"),
        (b"this is not json", "bad JSON"),
        (line(h=90), "broken OHLC"),  # h 90 < max(o, c) 105
        (line(lo=101), "broken OHLC"),  # l 101 > min(o, c) 100
        (line(o=0, lo=0), "bad price"),
        (line(vol=-1), "bad volume"),
        (line(vol=10), "levels exceed vol"),  # sum(bv+av) = 25 > 10
        (line(delta=3), "delta mismatch"),  # 17 - 8 = 9
        (line(t0=HOUR_MS + 30_000), "bad t0"),  # not on a minute
        (line(t0=HOUR_MS + 3_600_000), "bad t0"),  # next hour
        (line(levels=[{"p": 100, "bv": -1, "av": 0}], delta=-1), "bad level"),
        (line().replace(b'"vol": 30', b'"vol": 30.5'), "wrong type"),
        (line().replace(b'"vol": 30', b'"vol": "30"'), "wrong type"),
        (line().replace(b'"vol": 30', b'"vol": true'), "wrong type"),
        (line().replace(b'"o": 100', b'"o": 1e2'), "wrong type"),
        (line().replace(b'"vol": 30, ', b""), "missing field"),
        (b"[1, 2, 3]", "not a JSON object"),
        (line() + line(t0=HOUR_MS + 60_000), "bad JSON"),  # two values on one line
    ],
)
def test_each_rule_rejects_the_line_and_keeps_the_rest(bad: bytes, reason: str) -> None:
    good_a, good_b = line(t0=HOUR_MS + 120_000), line(t0=HOUR_MS + 180_000)
    v = validate_objects({BBRI_KEY: b"\n".join([good_a, bad, good_b]) + b"\n"})
    assert [(r.line_no, r.reason.split(":")[0]) for r in v.rejects] == [(2, reason)]
    assert v.rejects[0].source == BBRI_KEY
    assert v.rejects[0].line == bad.decode().strip()
    assert v.candles["time_key"].to_pylist() == [HOUR_MS + 120_000, HOUR_MS + 180_000]
    assert v.rows_by_source == {BBRI_KEY: 2} and v.rejects_by_source == {BBRI_KEY: 1}


def test_bad_objects_are_isolated_among_many_good_ones() -> None:
    objects = {f"footprint/T{i}/1m/2026/02/06/03.jsonl": line() + b"\n" for i in range(50)}
    objects["footprint/T7/1m/2026/02/06/03.jsonl"] = line() + b"\n{oops\n" + line(t0=HOUR_MS + 60_000)
    objects["footprint/T31/1m/2026/02/06/03.jsonl"] = line(h=1) + b"\n"
    v = validate_objects(objects)
    assert [(r.source, r.line_no) for r in v.rejects] == [
        ("footprint/T31/1m/2026/02/06/03.jsonl", 1),
        ("footprint/T7/1m/2026/02/06/03.jsonl", 2),
    ]
    assert v.candles.num_rows == 48 + 2  # 48 clean objects + T7's two good lines
    assert v.rows_by_source["footprint/T7/1m/2026/02/06/03.jsonl"] == 2
    assert "footprint/T31/1m/2026/02/06/03.jsonl" not in v.rows_by_source


def test_duplicate_t0_later_line_wins_and_order_is_by_time() -> None:
    later = line(t0=HOUR_MS, vol=99)
    body = b"\n".join([line(t0=HOUR_MS + 60_000), line(t0=HOUR_MS, vol=30), later]) + b"\n"
    v = validate_objects({BBRI_KEY: body})
    assert v.candles["time_key"].to_pylist() == [HOUR_MS, HOUR_MS + 60_000]
    assert v.candles["vol"].to_pylist() == [99, 30]
    assert v.superseded == 1 and v.rejects == []
    assert v.levels.num_rows == 4  # two levels per kept candle, none from the superseded line


def test_levels_any_order_blank_lines_crlf_and_missing_newline() -> None:
    unsorted = line(levels=[{"p": 105, "bv": 7, "av": 3}, {"p": 100, "bv": 10, "av": 5}])
    body = b"\r\n" + unsorted + b"\r\n\r\n   \n" + line(t0=HOUR_MS + 60_000)  # no final newline
    v = validate_objects({BBRI_KEY: body})
    assert v.rejects == []
    assert v.candles.num_rows == 2 and v.lines == 2
    assert v.levels["price"].to_pylist() == [105, 100, 100, 105]


def test_not_a_footprint_key_and_empty_objects() -> None:
    v = validate_objects({"raw_lt/x.jsonl": line(), BBRI_KEY: b""})
    assert [(r.source, r.line_no, r.reason.split(":")[0]) for r in v.rejects] == [
        ("raw_lt/x.jsonl", 0, "not a footprint key")
    ]
    assert v.candles.num_rows == 0 and v.levels.num_rows == 0


def test_blank_line_inside_an_otherwise_clean_object() -> None:
    # Starts with "{" and ends with "}", so only the day-wide "}\n{" count can tell it apart.
    body = line() + b"\n\n" + line(t0=HOUR_MS + 60_000) + b"\n"
    v = validate_objects({"footprint/A/1m/2026/02/06/03.jsonl": line() + b"\n", BBRI_KEY: body})
    assert v.rejects == [] and v.lines == 3
    assert v.rows_by_source == {"footprint/A/1m/2026/02/06/03.jsonl": 1, BBRI_KEY: 2}
