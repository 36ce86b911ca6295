"""Liquidity floor and instrument kinds (issue 27) on the real snapshot and the real tape."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

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


def test_liquidity_filter_changes_the_outcomes(tmp_path: Path) -> None:
    import duckdb
    from test_outcomes import D1, D2, candle, write_candles, write_summary_items

    from orderflow_pipeline.layers import outcomes
    from orderflow_pipeline.warehouse import load, schema

    lake = Lake(str(tmp_path / "lake"))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    schema.ensure_schema(con)
    # D1 value = lots × close × 100 (one candle): BBCA 100,000 × 9,000 × 100 = Rp 90 B (liquid);
    # TLKM 100 × 3,000 × 100 = Rp 30 M (a share below the floor); GJTLZPCJ6A 3 × 100 × 100 = Rp 30 k
    # next-day close-to-close: BBCA 9,000 -> 9,090 = +1%, TLKM 3,000 -> 2,970 = -1%, GJTL 100 -> 150 = +50%
    for t, vol, c1, c2 in (
        ("BBCA", 100_000, 9000, 9090),
        ("TLKM", 100, 3000, 2970),
        ("GJTLZPCJ6A", 3, 100, 150),
    ):
        write_candles(lake, t, [candle(D1, 0, c1, c1, vol=vol), candle(D2, 0, c2, c2, vol=vol)])
    for d in (D1, D2):
        load.consolidate(lake, con, d)
    write_summary_items(
        lake, D1, [{"t": t, "sig": "BUY", "sc": 0.65} for t in ("BBCA", "GJTLZPCJ6A", "TLKM")]
    )
    outcomes.build_outcomes(lake, con, D1)

    def buy(flt: Filter | None) -> tuple[int, float, float]:
        rep = outcomes.rolling_report(con, days=2, end=D2, liquidity=flt)
        assert rep["liquidity"] == (flt.as_dict() if flt else None)
        (e,) = [s for s in rep["signals"] if s["signal"] == "BUY"]
        return e["count"], round(e["hit_rate"], 4), round(e["mean"], 4)

    assert buy(None) == (3, round(2 / 3, 4), round((1 - 1 + 50) / 3, 4))  # the warrant's +50% dominates
    assert buy(Filter(500_000_000)) == (1, 1.0, 1.0)  # BBCA alone
    assert buy(Filter(0)) == (2, 0.5, 0.0)  # shares: BBCA +1, TLKM -1
    assert buy(Filter(0, INSTRUMENTS)) == buy(None)
    con.close()


def test_outcomes_cli_and_api_offer_the_liquid_view(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from orderflow_pipeline.api import create_app
    from orderflow_pipeline.cli import main
    from orderflow_pipeline.config import get_settings

    monkeypatch.setenv("ORDERFLOW_MIN_TRADED_VALUE", "1000")
    monkeypatch.setenv("ORDERFLOW_LIQUID_KINDS", "share,warrant")
    view = {"min_value": 1000, "kinds": ["share", "warrant"]}
    assert main(["outcomes", "--liquid"]) == 0
    assert json.loads(capsys.readouterr().out)["liquidity"] == view
    assert main(["outcomes"]) == 0
    assert json.loads(capsys.readouterr().out)["liquidity"] is None
    client = TestClient(create_app(get_settings()))
    assert client.get("/signals/outcomes", params={"liquid": "true"}).json()["liquidity"] == view
    assert client.get("/liquidity").json() == view
