"""fetch-broksum's merge and rendering (issue 18): answer rows -> the SPEC §8 file.

The golden check: the 11 real files of fixtures/real/raw-broksum are turned back into the rows
an en_qu_top_bs answer carries (each broker once per side, the ticker's summary row from
`_meta.summary.raw`), split into a "b" and an "s" answer that overlap, and rendered: the bytes
equal the real file, every field and key order included (accdist, top1/3/5, total_buyer/seller,
_meta). Shares per broker are the file's lots x 100 plus the odd-lot shares that reproduce its
average price (floor(value / shares)), which is how the feed reports volume.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL as REAL_FIXTURES

from orderflow_pipeline.layers.smart_money.broksum import parse_broksum
from orderflow_pipeline.sources.ipot import protocol as P
from orderflow_pipeline.sources.ipot.broksum.brokers import default_brokers
from orderflow_pipeline.sources.ipot.broksum.render import Answer, AnswerError, render
from orderflow_pipeline.sources.ipot.broksum.write import write_if_not_worse
from orderflow_pipeline.sources.ipot.client import with_token
from orderflow_pipeline.storage.keys import broksum_key
from orderflow_pipeline.storage.lake import Lake

REAL = REAL_FIXTURES / "raw-broksum"
FILES = sorted(REAL.glob("*/*.json"))


def _shares(value: int, lots_v: int, avg: int) -> int:
    """Shares = lots x 100 + the odd lot that makes floor(value / shares) the file's average."""
    for odd in range(100):
        if value // (lots_v + odd) == avg:
            return lots_v + odd
    raise AssertionError((value, lots_v, avg))


def rows_of(doc: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(summary row, the 'b' answer, the 's' answer) that a real file came from."""
    bs = doc["data"]["broker_summary"]
    per: dict[str, list[int]] = {}
    for r in bs["brokers_buy"]:
        x = per.setdefault(r["netbs_broker_code"], [0] * 6)
        x[0], x[1] = int(r["bval"]), _shares(int(r["bval"]), int(r["blotv"]), int(r["netbs_buy_avg_price"]))
    for r in bs["brokers_sell"]:
        x = per.setdefault(r["netbs_broker_code"], [0] * 6)
        x[3], x[4] = int(r["sval"]), _shares(int(r["sval"]), int(r["slotv"]), int(r["netbs_sell_avg_price"]))
    lines = {
        c: f"{c}|{v[0]}|{v[1]}|{v[2]}|{v[3]}|{v[4]}|{v[5]}|{v[0] - v[3]}|{v[1] - v[4]}|{v[0] + v[3]}|{v[1] + v[4]}|0"
        for c, v in per.items()
    }
    # Each side's answer lists that side's brokers (a broker on both sides is in both answers),
    # so only the merge of the two holds every broker.
    by_buy = [lines[c] for c in sorted(per, key=lambda c: -per[c][0]) if per[c][0]]
    by_sell = [lines[c] for c in sorted(per, key=lambda c: -per[c][3]) if per[c][3]]
    return doc["_meta"]["summary"]["raw"], by_buy, by_sell


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_rendered_file_equals_the_real_file(path: Path) -> None:
    raw = path.read_bytes()
    doc = json.loads(raw)
    summary, b, s = rows_of(doc)
    ticker = path.parent.name
    covered = {ln.split("|")[0] for ln in b + s}
    all_codes = {
        r["netbs_broker_code"]
        for side in ("brokers_buy", "brokers_sell")
        for r in doc["data"]["broker_summary"][side]
    }
    assert covered == all_codes, "the two answers together cover every broker"
    answer = Answer(ticker)
    rnd = random.Random(7)
    b2, s2 = [summary, *b], [*s, summary]
    rnd.shuffle(b2)
    rnd.shuffle(s2)
    answer.add(b2)
    answer.add(s2)
    out, unknown = render(answer, path.stem)
    assert unknown == set()
    assert out == raw


def test_broker_table_covers_every_real_code_with_its_real_type() -> None:
    table = default_brokers()
    for path in FILES:
        doc = json.loads(path.read_bytes())
        for side in ("brokers_buy", "brokers_sell"):
            for r in doc["data"]["broker_summary"][side]:
                assert table[r["netbs_broker_code"]].type == r["type"]
    assert all(b.category == ("FOREIGN" if b.type == "Asing" else "RETAIL") for b in table.values())


def test_unknown_broker_is_lokal_and_reported() -> None:
    a = Answer("BBRI")
    a.add(
        [
            "BBRI|1000|10|2|1000|10|2|0|0|2000|20|1",
            "Q9|1000|10|1|0|0|0|1000|10|1000|10|0",
            "YU|0|0|0|1000|10|1|-1000|-10|1000|10|0",
        ]
    )
    out, unknown = render(a, "2026-01-21")
    assert unknown == {"Q9"}
    doc = json.loads(out)
    assert doc["data"]["broker_summary"]["brokers_buy"][0]["type"] == "Lokal"
    assert doc["data"]["broker_summary"]["brokers_sell"][0]["type"] == "Asing"


def test_same_broker_in_both_answers_is_merged_not_summed() -> None:
    a = Answer("TLKM")
    row = "YU|3600|1000|3|0|0|0|3600|1000|3600|1000|0"
    a.add(
        ["TLKM|3600|1000|3|3600|1000|3|0|0|7200|2000|1", row, "CC|0|0|0|3600|1000|3|-3600|-1000|3600|1000|0"]
    )
    a.add([row, "CC|0|0|0|3600|1000|3|-3600|-1000|3600|1000|0"])
    doc = json.loads(render(a, "2026-01-21")[0])
    assert [r["bval"] for r in doc["data"]["broker_summary"]["brokers_buy"]] == ["3600"]
    assert doc["_meta"]["integrity_check"]["delta_val"] == "0"


def test_malformed_rows_are_counted_and_an_empty_answer_is_an_error() -> None:
    a = Answer("BBRI")
    a.add(["garbage", "YU|x|1|2|3|4|5"])
    assert len(a.bad) == 2
    with pytest.raises(AnswerError):
        render(a, "2026-01-21")


def test_never_overwrites_a_valid_file_with_a_worse_one(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    good = (REAL / "BBRI/2026-01-21.json").read_bytes()
    key = broksum_key("BBRI", "2026-01-21")
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", good) == "written"
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", good) == "unchanged"
    # fewer brokers (a truncated answer): kept
    doc = json.loads(good)
    doc["data"]["broker_summary"]["brokers_buy"] = doc["data"]["broker_summary"]["brokers_buy"][:3]
    worse = json.dumps(doc, separators=(",", ":")).encode()
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", worse) == "kept"
    # a non-trading-day answer over a trading day: kept; garbage: kept
    zero = json.dumps({"data": {"bandar_detector": {"value": "0"}}}).encode()
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", zero) == "kept"
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", b"{") == "kept"
    assert lake.read_bytes(key) == good
    # over an unreadable file, anything readable is better
    lake.write_bytes(key, b"not json")
    assert write_if_not_worse(lake, "BBRI", "2026-01-21", good) == "written"
    assert parse_broksum(lake.read_bytes(key), "BBRI", "2026-01-21") is not None


def test_query_frame_and_dates() -> None:
    assert P.query_date(date(2026, 1, 9), pad_month=True) == "2026-01-09"
    assert P.query_date(date(2026, 1, 9)) == "2026-1-09"
    assert with_token("ws://h/socketcluster/", "tok") == "ws://h/socketcluster/?appsession=tok"
    row = "YU|1|2|3|4|5|6"
    for data in ({"data": {"en_qu_top_bs": row}}, {"data": row}, {"en_qu_top_bs": row}, row):
        f = P.decode(json.dumps({"event": "record", "data": data}))
        assert (f.kind, f.data) == ("record", row)
