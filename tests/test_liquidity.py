"""Liquidity floor and instrument kinds (issue 27) on the real snapshot and the real tape."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.layers.summary import liquidity
from orderflow_pipeline.layers.summary.build import summary_from_lake
from orderflow_pipeline.layers.summary.liquidity import INSTRUMENTS, Filter, instrument, liquid_items
from orderflow_pipeline.storage.lake import Lake

TAPE_KEY = "raw_lt/2026/02/18/02/1771380009443_386.jsonl"
D = "2026-02-18"


def test_every_snapshot_code_gets_the_kind_its_form_says(real: Path) -> None:
    with (real / "idx_daily_snapshot.csv").open() as f:
        tickers = [r["ticker"] for r in csv.DictReader(f)]
    kinds = Counter(instrument(t) for t in tickers)
    # counted by form in the snapshot: 864 four-letter codes of which 22 start with X (ETFs),
    # 353 ten-character structured warrants (348 calls ...C..., 5 puts ...P...: ADROHDPH6A,
    # ANTMHDPH6A, MDKAHDPH6A, MDKAHDPJ6A, PGEOHDPH6A), 15 `-W` + 1 `-W2` warrants, and R-LQ45X
    assert kinds == {"share": 842, "etf": 22, "structured_warrant": 353, "warrant": 16, "other": 1}
    assert [t for t in tickers if instrument(t) == "other"] == ["R-LQ45X"]
    assert [instrument(t) for t in ("BBCA", "XIIT", "GJTLZPCJ6A", "PJHB-W", "INET-W2", "BBKP-R", "T005")] == [
        "share", "etf", "structured_warrant", "warrant", "warrant", "right", "other",
    ]  # fmt: skip


def test_parse_kinds_names_a_typo() -> None:
    assert liquidity.parse_kinds("warrant, share") == ("share", "warrant")
    try:
        liquidity.parse_kinds("share,warant")
    except ValueError as exc:
        assert "warant" in str(exc) and "structured_warrant" in str(exc)
    else:
        raise AssertionError("a typo must be an error")
    assert set(INSTRUMENTS) == {"share", "etf", "structured_warrant", "warrant", "right", "other"}


def _values_by_hand(body: bytes) -> dict[str, int]:
    """Every trade of the sample is in the minute 09:00 WIB, so a ticker's value is its lots ×
    the minute's close (last trade by time, trade number) × 100."""
    rows: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    for line in body.splitlines():
        f = json.loads(line)["raw"].split("|")
        rows[f[3]].append((int(f[1]), int(f[5]), int(f[6]), int(f[7])))
    return {t: sum(r[3] for r in rs) * max(rs)[2] * 100 for t, rs in rows.items()}


def test_floor_and_filter_change_the_ranking_of_the_real_tape(local_lake: Lake, real: Path) -> None:
    body = (real / TAPE_KEY).read_bytes()
    local_lake.write_bytes(TAPE_KEY, body)
    footprint.build_footprint(local_lake, D)
    items = summary_from_lake(local_lake, D)["items"]
    assert {i["t"]: i["val"] for i in items} == _values_by_hand(body)
    # ADRO: 4,912 lots closing at 2,210 -> 1,085,552,000; INDS: 4,356 lots closing at 2,250 -> 980,100,000
    assert {i["t"]: i["val"] for i in items if i["val"] >= 500_000_000} == {
        "ADRO": 1_085_552_000,
        "INDS": 980_100_000,
    }
    # The document keeps every ticker in §10's order; the raw ranking is led by 1-lot prints and a
    # structured warrant (sc 0.935 each: delta +100% on one buy)
    assert len(items) == 94
    assert [(i["t"], i["ins"], i["v"]) for i in items[:2]] == [
        ("AADI", "share", 1),
        ("ACESBQCG6A", "structured_warrant", 51),
    ]
    # shares above Rp 500 M (the default view): the two liquid names, in the same relative order
    default = liquid_items(items, Filter(500_000_000))
    assert [i["t"] for i in default] == [i["t"] for i in items if i["t"] in ("ADRO", "INDS")]
    # the floor alone (every kind) and the kinds alone (no floor) each drop their own
    assert len(liquid_items(items, Filter(0))) == 80  # 94 - 13 structured warrants - PJHB-W
    assert {i["t"] for i in liquid_items(items, Filter(0, ("warrant",)))} == {"PJHB-W"}
    assert len(liquid_items(items, Filter(0, INSTRUMENTS))) == 94
    # an item of an older summary file (no val) cannot pass a floor
    assert not Filter(0).keeps("BBCA", None)
