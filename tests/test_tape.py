"""Tape parser and aggressor classifier (SPEC §5) on synthetic lines whose answers are worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orderflow_pipeline.layers.footprint import tape
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.storage.quarantine import QuarantineBatch

WED = "2026-02-18"  # a Wednesday: continuous 09:00-12:00 and 13:30-15:50 WIB
FRI = "2026-02-20"  # a Friday: continuous 09:00-11:30 and 14:00-15:50 WIB


def raw(
    tt: str,
    ticker: str,
    tno: int | str,
    price: int | str,
    lots: int | str,
    o13: str = "00",
    o14: str = "00",
    board: str = "RG",
) -> str:
    return f"B|{tt}|0|{ticker}|{board}|{tno}|{price}|{lots}|--|-|--|-|{price}|{o13}|{o14}|0|0|{price}|0|1"


def line(*a: object, **k: str) -> str:
    return json.dumps({"v": 2, "fmt": "pipe", "src": "ipot_ws", "raw": raw(*a, **k), "ts": 0}) + "\n"


def trades(con: duckdb.DuckDBPyConnection) -> dict[int, tuple]:
    rows = con.execute(f"SELECT trade_no, price, vol, side, cont, t0 FROM {tape.TRADES_TABLE}").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_order_number_rule_tick_fallback_and_auction_prints() -> None:
    # Trades of TICK, deliberately out of order in the file. Working (order = trade time, number):
    #  #0 08:55:00 pre-opening auction, o14 set   -> neutral (not continuous), vol counts
    #  #1 09:00:00 both o13/o14 set, no previous continuous trade (the auction print is NOT one) -> 0
    #  #2 09:00:01 neither set, 101 > 100 uptick   -> buy
    #  #3 09:00:02 neither set, 101 = 101 zero tick -> inherits buy
    #  #4 09:00:03 o13 set                           -> sell (order-number rule)
    #  #5 09:00:04 neither, 100 = 100 zero tick      -> inherits sell
    #  #6 09:00:05 neither, 99 < 100 downtick        -> sell
    #  #7 09:00:06 o14 set                           -> buy
    body = "".join(
        [
            line("090003", "TICK", 4, 100, 3, o13="555"),
            line("090000", "TICK", 1, 100, 10, o13="5", o14="6"),
            line("085500", "TICK", 0, 98, 50, o14="9"),
            line("090002", "TICK", 3, 101, 7),
            line("090001", "TICK", 2, 101, 5),
            line("090005", "TICK", 6, 99, 4),
            line("090004", "TICK", 5, 100, 2),
            line("090006", "TICK", 7, 99, 1, o14="1"),
        ]
    ).encode()
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [body])
    assert load.trades == 8 and load.rejected == 0
    got = {n: v[2] for n, v in trades(con).items()}
    assert got == {0: 0, 1: 0, 2: 1, 3: 1, 4: -1, 5: -1, 6: -1, 7: 1}
    # minute bucketing by trade time: 09:00 WIB = 02:00 UTC on 2026-02-18 = 1771380000000
    assert trades(con)[1][4] == 1771380000000
    assert trades(con)[0][4] == 1771380000000 - 5 * 60000  # 08:55 WIB


def test_friday_long_break_is_not_continuous() -> None:
    # 11:45 WIB is continuous on Wednesday (09:00-12:00) but in Friday's break (11:30-14:00).
    body = line("114500", "AAAA", 1, 100, 7, o14="3").encode()
    for d, side, cont in ((WED, 1, True), (FRI, 0, False)):
        con = duckdb.connect()
        tape.load_tape(con, d, [body])
        _, _, s, c, _ = trades(con)[1]
        assert (s, c) == (side, cont)


def test_boards_duplicates_and_record_types() -> None:
    a = (
        line("090000", "AAAA", 1, 100, 5, o14="1")
        + line("090001", "AAAA", 2, 500, 900, o14="1", board="NG")
        + line("090002", "AAAA", 3, 100, 5, o14="1", board="TN")
    ).encode()
    b = (
        line("090000", "AAAA", 1, 100, 5, o14="1")  # replayed by a reconnect: counts once
        + json.dumps({"raw": "O|090000|0|AAAA|RG|9|100|5|--|-|--|-|100|00|1|0|0|100|0|1"})
        + "\n"
    ).encode()
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [a, b])
    assert (load.trades, load.duplicates, load.non_regular, load.non_trade, load.rejected) == (1, 1, 2, 1, 0)


def test_malformed_lines_are_quarantined_with_reasons() -> None:
    good = line("090000", "AAAA", 1, 100, 5, o14="1")
    body = "".join(
        [
            good,
            '{"v":2,"raw":"B|0900\n',  # truncated line
            json.dumps({"raw": "B|090000|0|AAAA|RG|2|100"}) + "\n",  # wrong field count
            line("090000", "AAAA", 3, "12a", 5),  # non-numeric price
            line("090000", "AAAA", 4, "2210.5", 5),  # not an integer
            line("096100", "AAAA", 5, 100, 5),  # minute 61
            line("090000", "AAAA", 6, 100, "x"),  # non-numeric volume
            line("090000", "AAAA", 7, 100, 0),  # zero volume
            json.dumps({"v": 2}) + "\n",  # no raw field
            "\n",  # blank: not a line of data
            "  \r\n",  # whitespace only: blank too
            line("090001", "AAAA", 8, 101, 2, o14="1"),
        ]
    ).encode()
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [body], sources=["raw_lt/x.jsonl"], quarantine=q)
    assert load.trades == 2 and load.blank == 2 and load.rejected == 8
    reasons = {r.line_no: r.reason.split(":")[0] for r in q.items}
    assert reasons == {
        2: "bad JSON",
        3: "wrong field count",
        4: "bad price",
        5: "bad price",
        6: "bad trade time",
        7: "bad volume",
        8: "bad volume",
        9: "missing raw field",
    }
    assert all(r.source == "raw_lt/x.jsonl" for r in q.items)


def test_lines_table_keeps_object_and_line_numbers() -> None:
    t = tape.lines_table([b"a\nb", b"", b"c\n", b"d\ne\n"])
    assert t.column("obj").to_pylist() == [0, 0, 2, 3, 3]
    assert t.column("line_no").to_pylist() == [1, 2, 1, 1, 2]
    assert [s.rstrip("\n") for s in t.column("line").to_pylist()] == ["a", "b", "c", "d", "e"]


def test_lines_table_reads_memory_mapped_objects_like_bytes(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    bodies = {"o/1.jsonl": b"a\nb", "o/2.jsonl": b"c\n"}  # the first lacks its final newline
    for k, v in bodies.items():
        lake.write_bytes(k, v)
    mapped = lake.map_many(sorted(bodies))
    assert tape.lines_table([mapped[k] for k in sorted(bodies)]).equals(
        tape.lines_table([bodies[k] for k in sorted(bodies)])
    )


def test_invalid_utf8_still_reaches_quarantine() -> None:
    body = b'{"raw":"B|\xff\xfe"}\n' + line("090000", "AAAA", 1, 100, 5, o14="1").encode()
    q = QuarantineBatch("footprint")
    load = tape.load_tape(duckdb.connect(), WED, [body], quarantine=q)
    assert load.trades == 1 and [r.line_no for r in q.items] == [1]


@pytest.mark.parametrize("seed_side,expected", [(1, 1), (-1, -1), (0, 0)])
def test_seed_carries_the_tick_rule_into_a_later_hour(seed_side: int, expected: int) -> None:
    # Only hour 03 UTC (10:00 WIB) is rebuilt; the ticker's last continuous trade before it was
    # at price 100 with side `seed_side`. A zero tick at 100 inherits it; 101 is an uptick.
    body = (line("100000", "AAAA", 50, 100, 1) + line("100001", "AAAA", 51, 101, 1)).encode()
    con = duckdb.connect()
    hour = 1771380000000 + 3600000
    tape.load_tape(con, WED, [body], keep={("AAAA", hour)}, seeds={"AAAA": (100, seed_side)})
    got = trades(con)
    assert got[50][2] == expected and got[51][2] == 1


def test_bad_order_and_trade_numbers_are_quarantined_not_sent_to_the_tick_rule() -> None:
    # Before bounds.py, "12x" or 2^63 in [13]/[14] silently became 0, so the trade fell to the tick
    # rule (here: 101 > 100 uptick -> a buy that the feed never said). Now each is one quarantined
    # line; the largest valid order number (2^63 - 1) still classifies by the order-number rule.
    body = "".join(
        [
            line("090000", "AAAA", 1, 100, 5, o13="7"),  # sell
            line("090001", "AAAA", 2, 101, 5, o14="12x"),  # bad [14]
            line("090002", "AAAA", 3, 101, 5, o13=str(2**63)),  # [13] beyond int64
            line("090003", "AAAA", 4, 101, 5, o13=str(2**63 - 1)),  # valid: a sell
            line("090004", "AAAA", 10**12, 101, 5, o14="1"),  # trade number beyond 12 digits
        ]
    ).encode()
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [body], quarantine=q)
    assert (load.trades, load.rejected) == (2, 3)
    assert {n: v[2] for n, v in trades(con).items()} == {1: -1, 4: -1}
    assert [(r.line_no, r.reason.split(":")[0]) for r in q.items] == [
        (2, "bad order number [14]"),
        (3, "bad order number [13]"),
        (5, "trade number out of bounds"),
    ]


def test_warrant_and_rights_codes_are_trades_other_suffixes_are_quarantined() -> None:
    # SPEC §7 ticker pattern ^[A-Z0-9]{1,12}(-[A-Z0-9]{1,2})?$: PJHB-W (warrant) and BBRI-R (rights)
    # trade on the regular board; a 3-character suffix, a bare dash or lower case are bad tickers.
    body = "".join(
        [
            line("090000", "PJHB-W", 1, 67, 1, o13="7"),  # [13] set: seller-initiated
            line("090001", "BBRI-R", 2, 5, 3, o14="9"),  # [14] set: buyer-initiated
            line("090002", "PJHB-WWW", 3, 67, 1, o14="1"),
            line("090003", "PJHB-", 4, 67, 1, o14="1"),
            line("090004", "pjhb-w", 5, 67, 1, o14="1"),
        ]
    ).encode()
    q = QuarantineBatch("footprint")
    con = duckdb.connect()
    load = tape.load_tape(con, WED, [body], sources=["raw_lt/x.jsonl"], quarantine=q)
    assert (load.trades, load.rejected) == (2, 3)
    rows = con.execute(
        f"SELECT ticker, price, vol, side FROM {tape.TRADES_TABLE} ORDER BY trade_no"
    ).fetchall()
    assert rows == [("PJHB-W", 67, 1, -1), ("BBRI-R", 5, 3, 1)]
    assert sorted((r.line_no, r.reason) for r in q.items) == [
        (3, "bad ticker: PJHB-WWW"),
        (4, "bad ticker: PJHB-"),
        (5, "bad ticker: pjhb-w"),
    ]
