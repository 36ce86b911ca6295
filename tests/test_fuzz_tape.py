"""Hostile input to every tape and candle parser (issue 16): no exception escapes, each bad line or
object is quarantined exactly once with a reason, and the good lines around it are untouched —
checked by comparing with the same build without the bad input."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import duckdb
import pytest

from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.footprint import candles, tape
from orderflow_pipeline.layers.footprint.hour_files import footprint_files
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import QuarantineBatch

WED = "2026-02-18"
TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
BBRI_KEY = "footprint/BBRI/1m/2026/02/06/03.jsonl"


def raw(tt: str, ticker: str, tno: str, price: str, lots: str, o13: str = "00", o14: str = "00") -> str:
    return f"B|{tt}|0|{ticker}|RG|{tno}|{price}|{lots}|--|-|--|-|{price}|{o13}|{o14}|0|0|{price}|0|1"


def jline(r: str) -> bytes:
    return json.dumps({"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": r, "ts": 0}).encode()


DEEP = 100_000  # far beyond Python's recursion limit and any JSON parser's default depth
HUGE_INT = "1" + "0" * 5000  # beyond Python's int-from-string digit limit (4300)

# Each hostile tape line: a single line of bytes (no newline inside) that must be quarantined.
HOSTILE_TAPE_LINES: dict[str, bytes] = {
    "binary": bytes(range(0, 256)).replace(b"\n", b"").replace(b"\r", b""),
    "nul bytes": b'{"raw":"B|090000|0|AA\x00AA|RG|1|100|5|--|-|--|-|100|00|1|0|0|100|0|1"}',
    "invalid utf-8 in raw": b'{"raw":"B|090000|0|\xff\xfe|RG|1|100|5|--|-|--|-|100|00|1|0|0|100|0|1"}',
    "deep array": b"[" * DEEP + b"]" * DEEP,
    "deep object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep raw": b'{"raw":' + b"[" * DEEP + b"]" * DEEP + b"}",
    "NaN literal": b'{"raw":NaN}',
    "huge integer raw": b'{"raw":' + HUGE_INT.encode() + b"}",
    "raw is a number": b'{"raw":123}',
    "raw is a list": b'{"raw":["B","090000"]}',
    "raw is an object": b'{"raw":{"B":1}}',
    "raw is null": b'{"raw":null}',
    "top-level list": b"[1,2,3]",
    "top-level string": b'"B|090000"',
    "truncated": jline(raw("090000", "AAAA", "92", "100", "5", o14="1"))[:40],
    "wild price 15 digits": jline(raw("090000", "AAAA", "93", "123456789012345", "5", o14="1")),
    "wild price 40 digits": jline(raw("090000", "AAAA", "94", "9" * 40, "5", o14="1")),
    "price just above int32": jline(raw("090000", "AAAA", "95", str(2**31), "5", o14="1")),
    "negative price": jline(raw("090000", "AAAA", "96", "-100", "5", o14="1")),
    "float price": jline(raw("090000", "AAAA", "97", "1e3", "5", o14="1")),
    "wild volume": jline(raw("090000", "AAAA", "98", "100", "1000001", o14="1")),
    "volume 40 digits": jline(raw("090000", "AAAA", "99", "100", "9" * 40, o14="1")),
    "trade number 2^63": jline(raw("090000", "AAAA", str(2**63), "100", "5", o14="1")),
    "trade number 13 digits": jline(raw("090000", "AAAA", "1" + "0" * 12, "100", "5", o14="1")),
    "trade number not integer": jline(raw("090000", "AAAA", "1.5", "100", "5", o14="1")),
    "order [13] not integer": jline(raw("090000", "AAAA", "100", "100", "5", o13="12x")),
    "order [14] not integer": jline(raw("090000", "AAAA", "101", "100", "5", o14="-7")),
    "order [13] 2^63": jline(raw("090000", "AAAA", "102", "100", "5", o13=str(2**63))),
    "order [14] 30 digits": jline(raw("090000", "AAAA", "103", "100", "5", o14="9" * 30)),
    "order [14] empty": jline(raw("090000", "AAAA", "104", "100", "5", o14="")),
    "ticker unicode": jline(raw("090000", "AÄAA", "105", "100", "5", o14="1")),
    "field count": jline("B|090000|0|AAAA|RG|106|100"),
    "huge line": b'{"raw":"' + b"B|" * 200_000 + b'"}',
}


def good_lines() -> list[bytes]:
    """Three tickers, buys and sells, a tick-rule trade (neither order number set)."""
    return [
        jline(raw("090000", "AAAA", "1", "100", "5", o14="11")),
        jline(raw("090001", "AAAA", "2", "101", "7", o13="12")),
        jline(raw("090002", "AAAA", "3", "102", "3")),  # uptick: buy by the tick rule
        jline(raw("090010", "BBBB", "1", "5000", "20", o13="13")),
        jline(raw("101500", "CCCC", "1", "250", "1", o14="14")),
    ]


def trades(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {tape.TRADES_TABLE} ORDER BY ticker, trade_no").fetchall()


def test_every_hostile_tape_line_is_quarantined_once_and_neighbours_load() -> None:
    good = good_lines()
    clean = duckdb.connect()
    ref = tape.load_tape(clean, WED, [b"\n".join(good) + b"\n"])
    assert ref.trades == 5 and ref.rejected == 0
    # interleave: good line, hostile line, good line, ... so every hostile line has neighbours
    names = list(HOSTILE_TAPE_LINES)
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for n, name in enumerate(names):
        lines.append(good[n % len(good)] if n < len(good) else b"")  # blank lines are not data
        lines.append(HOSTILE_TAPE_LINES[name])
        expected[len(lines)] = name
    lines.extend(good[len(names) :])
    body = b"\n".join(lines) + b"\n"
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [body], sources=["raw_lt/2026/02/18/02/hostile.jsonl"], quarantine=q)
    assert trades(con) == trades(clean)
    got = {r.line_no: r.reason for r in q.items}
    assert len(q.items) == len(got) == len(expected) == load.rejected, "each bad line exactly once"
    assert set(got) == set(expected), {expected.get(k, k): v for k, v in got.items()}
    assert all(r.reason and r.source.endswith("hostile.jsonl") for r in q.items)
    # the bound violations name the bound, not a generic parse failure
    by_name = {expected[k]: v for k, v in got.items()}
    assert by_name["wild price 15 digits"].startswith("price out of bounds: 123456789012345")
    assert by_name["price just above int32"].startswith("price out of bounds")
    assert by_name["wild volume"].startswith("volume out of bounds: 1000001")
    assert by_name["trade number 13 digits"].startswith("trade number out of bounds")
    assert by_name["order [13] not integer"].startswith("bad order number [13]: 12x")
    assert by_name["order [14] not integer"].startswith("bad order number [14]: -7")
    assert by_name["order [13] 2^63"].startswith("bad order number [13]")


def test_a_nan_or_infinity_beside_an_intact_raw_field_is_a_trade() -> None:
    # Both DuckDB's JSON reader and Python's accept the NaN/Infinity literals; the trade's fields
    # all come from `raw`, which is intact, so the line is a trade (a strict JSON check of every
    # line would cost the hot path a second parse for no data gained).
    line = jline(raw("090000", "AAAA", "91", "100", "5", o14="1"))[:-1] + b',"ts":Infinity,"x":NaN}'
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [line + b"\n"], quarantine=q)
    assert (load.trades, len(q)) == (1, 0)
    assert trades(con)[0][:5] == ("AAAA", 91, 9 * 3600, 100, 5)


def test_unreadable_objects_are_quarantined_whole_and_the_others_load() -> None:
    good = b"\n".join(good_lines()) + b"\n"
    clean = duckdb.connect()
    tape.load_tape(clean, WED, [good])
    rng = random.Random(16)
    noise = bytes(rng.randrange(256) for _ in range(4096))
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    objects: list[object] = [good, "not bytes but a str", None, 12345]
    sources = ["g.jsonl", "str.jsonl", "none.jsonl", "int.jsonl"]
    load = tape.load_tape(con, WED, objects, sources=sources, quarantine=q)  # type: ignore[arg-type]
    assert trades(con) == trades(clean)
    assert sorted((r.source, r.line_no) for r in q.items) == [
        ("int.jsonl", 0),
        ("none.jsonl", 0),
        ("str.jsonl", 0),
    ]
    assert all(r.reason.startswith("unreadable object: ") for r in q.items)
    assert load.rejected == 3
    # random bytes as a whole object: every non-blank line of it is quarantined, nothing raises
    q2 = QuarantineBatch("footprint")
    con2 = duckdb.connect()
    tape.load_tape(con2, WED, [good, noise], sources=["g", "noise"], quarantine=q2)
    assert trades(con2) == trades(clean)
    assert q2.items and all(r.source == "noise" and r.reason for r in q2.items)
    assert len({r.line_no for r in q2.items}) == len(q2.items)


def test_gzip_tape_objects_are_read_and_corrupt_ones_quarantined() -> None:
    body = b"\n".join(good_lines()) + b"\n"
    assert tape.object_text("raw_lt/x.jsonl.gz", gzip.compress(body)) == body
    assert tape.object_text("raw_lt/x.jsonl", body) is body
    for bad in (gzip.compress(body)[:-12], b"not gzip at all", gzip.compress(body)[:10] + b"\x00" * 30):
        with pytest.raises(tape.BadObject, match="unreadable gzip object"):
            tape.object_text("raw_lt/x.jsonl.gz", bad)


# -- through the footprint layer on the real lake --------------------------------------------------
def _files(lake: Lake) -> dict[str, bytes]:
    return {k: lake.read_bytes(k) for k in footprint_files(lake, keys.as_date(WED))}


def test_build_footprint_on_the_real_lake_with_hostile_objects(tmp_path: Path, real: Path) -> None:
    real_body = (real / TAPE_KEY).read_bytes()
    clean = Lake(str(tmp_path / "clean"))
    clean.write_bytes(TAPE_KEY, real_body)
    ref = footprint.build_footprint(clean, WED)
    # 386 lines, all trades: 385 + the PJHB-W warrant (SPEC §7 ticker pattern admits `-W`)
    assert (ref.trades, ref.quarantined) == (386, 0)

    lake = Lake(str(tmp_path / "hostile"))
    # the real tape gzip'd (a compressed lake must give the same candles) ...
    lake.write_bytes(TAPE_KEY + ".gz", gzip.compress(real_body))
    # ... plus, in the same hour folder: one object of every hostile line, a corrupt gzip, a
    # truncated gzip and random bytes
    hostile = b"\n".join(HOSTILE_TAPE_LINES.values()) + b"\n"
    lake.write_bytes("raw_lt/2026/02/18/02/hostile.jsonl", hostile)
    lake.write_bytes("raw_lt/2026/02/18/02/corrupt.jsonl.gz", b"\x1f\x8b\x08\x00garbage" * 10)
    lake.write_bytes("raw_lt/2026/02/18/02/truncated.jsonl.gz", gzip.compress(real_body)[:500])
    rng = random.Random(17)
    lake.write_bytes("raw_lt/2026/02/18/02/noise.jsonl", bytes(rng.randrange(256) for _ in range(2048)))
    res = footprint.build_footprint(lake, WED)
    assert _files(lake) == _files(clean), "hostile objects changed a good candle"
    assert res.trades == 386 and res.tape_objects == 5
    q: dict[str, list[tuple[int, str]]] = {}
    for key in lake.list("quarantine/2026-02-18/footprint/"):
        for row in lake.read_ndjson(key):
            q.setdefault(row["source"], []).append((row["line_no"], row["reason"]))
    assert TAPE_KEY + ".gz" not in q  # the real tape has no bad line (line 265, PJHB-W, is a warrant trade)
    assert sorted(n for n, _ in q["raw_lt/2026/02/18/02/hostile.jsonl"]) == list(
        range(1, len(HOSTILE_TAPE_LINES) + 1)
    )
    for name in ("corrupt", "truncated"):
        [(line_no, reason)] = q[f"raw_lt/2026/02/18/02/{name}.jsonl.gz"]
        assert line_no == 0 and reason.startswith("unreadable gzip object")
    assert q["raw_lt/2026/02/18/02/noise.jsonl"]
    assert all(reason for rows in q.values() for _, reason in rows)
    # the next run reads nothing new: nothing is quarantined twice
    again = footprint.build_footprint(lake, WED)
    assert (again.tape_objects_read, again.quarantined, again.hour_files_written) == (0, 0, 0)


# -- the candle (hour file) validator ------------------------------------------------------------
CANDLE = {
    "t0": 1770346800000,
    "ohlc": {"o": 100, "h": 110, "l": 95, "c": 105},
    "vol": 30,
    "delta": 9,
    "levels": [{"p": 100, "bv": 10, "av": 5}, {"p": 105, "bv": 7, "av": 3}],
}


def _candle(**change: object) -> bytes:
    return json.dumps({**CANDLE, **change}).encode()


HOSTILE_CANDLE_LINES: dict[str, bytes] = {
    "binary": HOSTILE_TAPE_LINES["binary"],
    "invalid utf-8": b'{"t0":\xff\xfe}',
    "deep array": b"[" * DEEP + b"]" * DEEP,
    "deep object": b'{"t0":' * DEEP + b"1" + b"}" * DEEP,
    "deep level": _candle(levels=[]).replace(b'"levels": []', b'"levels": ' + b"[" * DEEP + b"]" * DEEP),
    "NaN vol": _candle().replace(b'"vol": 30', b'"vol": NaN'),
    "Infinity price": _candle().replace(b'"h": 110', b'"h": Infinity'),
    "huge int t0": _candle().replace(b'"t0": 1770346800000', b'"t0": ' + HUGE_INT.encode()),
    "int64 overflow vol": _candle(vol=2**63),
    "float vol": _candle(vol=30.0),
    "string price": _candle(ohlc={"o": "100", "h": 110, "l": 95, "c": 105}),
    "bool delta": _candle(delta=True),
    "levels not a list": _candle(levels={"p": 1}),
    "price above int32": _candle(ohlc={"o": 100, "h": 2**31, "l": 95, "c": 105}),
    "vol above candle bound": _candle(vol=10**18 + 1),
    "levels that wrap int64": _candle(
        vol=10**18, delta=0, levels=[{"p": 100 + i, "bv": 10**18, "av": 10**18} for i in range(5)]
    ),
    "top-level list": b"[1,2]",
    "two values on a line": _candle() + b" " + _candle(),
    "truncated": _candle()[:30],
}


def test_every_hostile_candle_line_is_rejected_once(real: Path) -> None:
    body = (real / BBRI_KEY).read_bytes()
    ref = candles.validate_objects({BBRI_KEY: body})
    assert ref.rejects == [] and ref.candles.num_rows == 60
    lines = body.splitlines()
    out: list[bytes] = []
    expected: dict[int, str] = {}
    for n, name in enumerate(HOSTILE_CANDLE_LINES):
        out.append(lines[n])
        out.append(HOSTILE_CANDLE_LINES[name])
        expected[len(out)] = name
    out.extend(lines[len(HOSTILE_CANDLE_LINES) :])
    v = candles.validate_objects({BBRI_KEY: b"\n".join(out) + b"\n"})
    got = {r.line_no: r.reason for r in v.rejects}
    assert len(v.rejects) == len(got) == len(expected)
    assert set(got) == set(expected), {expected.get(k, k): r for k, r in got.items()}
    assert all(r for r in got.values())
    assert v.candles.drop(["source_key"]).equals(ref.candles.drop(["source_key"]))
    assert v.levels.num_rows == ref.levels.num_rows
    by_name = {expected[k]: r for k, r in got.items()}
    assert by_name["levels that wrap int64"].startswith("levels exceed vol")
    assert by_name["vol above candle bound"].startswith("bad volume")


def test_candle_validator_rejects_unreadable_objects_whole(real: Path) -> None:
    body = (real / BBRI_KEY).read_bytes()
    other = "footprint/TLKM/1m/2026/02/06/03.jsonl"
    rng = random.Random(18)
    objects = {
        BBRI_KEY: body,
        other: "a str, not bytes",
        "footprint/ASII/1m/2026/02/06/03.jsonl": bytes(rng.randrange(256) for _ in range(3000)),
        "footprint/BMRI/1m/2026/02/06/03.jsonl": b"[" * DEEP + b"]" * DEEP,
    }
    v = candles.validate_objects(objects)  # type: ignore[arg-type]
    ref = candles.validate_objects({BBRI_KEY: body})
    assert v.candles.num_rows == 60 and v.rows_by_source == ref.rows_by_source
    assert [(r.line_no, r.reason.split(":")[0]) for r in v.rejects if r.source == other] == [
        (0, "unreadable object")
    ]
    assert {r.source for r in v.rejects} == set(objects) - {BBRI_KEY}
    assert all(r.reason for r in v.rejects)
    assert len({(r.source, r.line_no) for r in v.rejects}) == len(v.rejects)
