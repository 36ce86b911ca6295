"""Hostile broker summaries (issue 16 items 3, 4): no file can fail a run, implausible numbers
never reach daily_features, and every rejected file is quarantined exactly once with its reason.

The bad files are the real BBRI 2026-01-22 summary filed under other tickers and then broken one
way each, so every other field is realistic. They sit next to the real fixtures (BBCA, BBRI,
TLKM 2026-01-19..22), whose rows must come out unchanged: BBRI 2026-01-22 keeps its hand-worked
figures (test_smart_money.py::test_bbri_2026_01_22_worked_by_hand):
sm_net = 335,854,766,425 − 426,119,262,425 = −90,264,496,000; ngr = −90,264,496,000 /
704,230,338,425 = −0.128175; vwap 3819.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from orderflow_pipeline.layers import smart_money as sm
from orderflow_pipeline.layers.smart_money import plausibility
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.keys import broksum_key
from orderflow_pipeline.storage.lake import Lake

DAYS = [date(2026, 1, 19), date(2026, 1, 20), date(2026, 1, 21), date(2026, 1, 22)]
D = "2026-01-22"
BIG = "__BIG__"  # placeholder replaced by a raw JSON token json.dumps cannot produce


def base(real: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((real / f"raw-broksum/BBRI/{D}.json").read_bytes())
    return doc


def edit(fn: Callable[[dict[str, Any]], None], raw_token: str | None = None) -> Callable[[Path, str], bytes]:
    """A case: the real file under `ticker`, changed by `fn`; BIG (quoted) becomes `raw_token`."""

    def make(real: Path, ticker: str) -> bytes:
        doc = base(real)
        doc["data"]["broker_summary"]["symbol"] = ticker
        fn(doc)
        text = json.dumps(doc)  # NaN / Infinity floats become the (non-JSON) literals
        if raw_token is not None:
            text = text.replace(f'"{BIG}"', raw_token)
        return text.encode()

    return make


def raw(data: bytes) -> Callable[[Path, str], bytes]:
    return lambda real, ticker: data


def bd(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = doc["data"]["bandar_detector"]
    return out


def brokers(doc: dict[str, Any], side: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = doc["data"]["broker_summary"][side]
    return out


def set_(
    path: Callable[[dict[str, Any]], dict[str, Any]], field: str, value: Any
) -> Callable[[dict[str, Any]], None]:
    def fn(doc: dict[str, Any]) -> None:
        path(doc)[field] = value

    return fn


def first_buy(doc: dict[str, Any]) -> dict[str, Any]:
    return brokers(doc, "brokers_buy")[0]


def first_sell(doc: dict[str, Any]) -> dict[str, Any]:
    return brokers(doc, "brokers_sell")[0]


def scale_zp_buy(doc: dict[str, Any]) -> None:
    """ZP (Asing, smart money) buys 10x its real value: Σ bval far above the day's value."""
    row = next(r for r in brokers(doc, "brokers_buy") if r["netbs_broker_code"] == "ZP")
    row["bval"] = str(int(row["bval"]) * 10)


def scale_zp_sell(doc: dict[str, Any]) -> None:
    row = next(r for r in brokers(doc, "brokers_sell") if r["netbs_broker_code"] == "ZP")
    row["sval"] = str(int(row["sval"]) * 10)


def all_buyers_smart(extra: float) -> Callable[[dict[str, Any]], None]:
    """Every buyer Asing, every seller Lokal: sm_net = Σ bval, so ngr = Σ bval / value.
    `extra` adds that share of the value to the first buyer (0 -> ngr exactly 1)."""

    def fn(doc: dict[str, Any]) -> None:
        for r in brokers(doc, "brokers_buy"):
            r["type"] = "Asing"
        for r in brokers(doc, "brokers_sell"):
            r["type"] = "Lokal"
        row = brokers(doc, "brokers_buy")[0]
        row["bval"] = str(int(row["bval"]) + round(int(bd(doc)["value"]) * extra))

    return fn


def number_row(doc: dict[str, Any]) -> None:
    doc["data"]["broker_summary"]["brokers_sell"][0] = 7


def nest_in_row(doc: dict[str, Any]) -> None:
    first_buy(doc)["extra"] = BIG


def truncated(real: Path, ticker: str) -> bytes:
    data = (real / f"raw-broksum/BBRI/{D}.json").read_bytes().replace(b"BBRI", ticker.encode())
    return data[: len(data) // 2]


# name -> (file maker, expected reason code)
BAD: dict[str, tuple[Callable[[Path, str], bytes], str]] = {
    "deep_nesting": (raw(b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "bad_json"),
    "deep_nesting_in_a_row": (edit(nest_in_row, "[" * 5_000 + "]" * 5_000), "bad_json"),
    "nan_literal_value": (edit(set_(bd, "value", float("nan"))), "bad_json"),
    "infinity_literal_bval": (edit(set_(first_buy, "bval", float("inf"))), "bad_json"),
    "minus_infinity_average": (edit(set_(bd, "average", float("-inf"))), "bad_json"),
    "nan_string_value": (edit(set_(bd, "value", "NaN")), "bad_number"),
    "overflowing_literal_bval": (edit(set_(first_buy, "bval", BIG), "1e400"), "bad_number"),
    "huge_integer_value": (edit(set_(bd, "value", BIG), "1" + "0" * 400), "bad_number"),
    "huge_integer_string_sval": (edit(set_(first_sell, "sval", "9" * 400)), "bad_number"),
    "integer_beyond_parser_limit": (edit(set_(bd, "volume", BIG), "7" * 5_000), "bad_json"),
    "value_1e308": (edit(set_(bd, "value", "1e308")), "implausible_number"),
    "bval_1e308": (edit(set_(first_buy, "bval", "1e308")), "implausible_total"),
    "average_1e-300": (edit(set_(bd, "average", "1e-300")), "implausible_average"),
    "volume_in_lots": (edit(set_(bd, "volume", "1843620")), "implausible_average"),
    "zero_volume": (edit(set_(bd, "volume", "0")), "implausible_volume"),
    "negative_sval": (edit(set_(first_sell, "sval", "-5")), "implausible_number"),
    "broker_average_off_the_day": (
        edit(set_(first_buy, "netbs_buy_avg_price", "100000")),
        "implausible_broker_average",
    ),
    "smart_buy_above_value": (edit(scale_zp_buy), "implausible_total"),
    "smart_sell_above_value": (edit(scale_zp_sell), "implausible_total"),
    "ngr_above_one_within_rounding": (edit(all_buyers_smart(0.0005)), "implausible_ngr"),
    "bool_value": (edit(set_(bd, "value", True)), "bad_number"),
    "object_average": (edit(set_(bd, "average", {"px": 3819})), "bad_number"),
    "list_bandar_detector": (
        edit(set_(lambda d: d["data"], "bandar_detector", [1, 2])),
        "no_bandar_detector",
    ),
    "string_brokers_buy": (
        edit(set_(lambda d: d["data"]["broker_summary"], "brokers_buy", "ZP")),
        "bad_broker_summary",
    ),
    "number_broker_row": (edit(number_row), "bad_broker_row"),
    "integer_broker_code": (edit(set_(first_buy, "netbs_broker_code", 123)), "bad_broker_row"),
    "list_as_date": (edit(set_(lambda d: d["data"], "from", ["2026-01-22"])), "date_mismatch"),
    "top_level_list": (raw(b"[1, 2, 3]"), "no_data"),
    "binary": (raw(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), "bad_json"),
    "invalid_utf8": (raw(b'{"data": {"bandar_detector": {"value": "\xff\xfe"}}}'), "bad_json"),
    "empty": (raw(b""), "bad_json"),
    "truncated": (truncated, "bad_json"),
}
BAD_TICKERS = {name: f"FZ{i:02d}" for i, name in enumerate(BAD)}
# Folders that are not tickers (SPEC §7): lower case, too long, underscore, a suffix too long.
BAD_FOLDERS = ["bbri", "TOOLONGTICKER1", "AB_C", "BBRI-WXYZ"]


def code(reason: str) -> str:
    return reason.split(":", 1)[0]


# -- the parser -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD))
def test_parser_raises_only_broksum_error_with_the_reason(real: Path, name: str) -> None:
    make, expected = BAD[name]
    ticker = BAD_TICKERS[name]
    with pytest.raises(sm.BroksumError) as info:
        sm.parse_broksum(make(real, ticker), ticker, D)
    assert code(str(info.value)) == expected, str(info.value)


def test_boundaries_are_accepted(real: Path) -> None:
    """ngr exactly 1 (every buyer smart, every seller not) and a broker average at the edge of the
    day's range are real possibilities, not errors."""
    day = sm.parse_broksum(edit(all_buyers_smart(0.0))(real, "BBRI"), "BBRI", D)
    assert day is not None and day.ngr == 1.0
    lo, hi = plausibility.day_price_range(3819)
    # 3819 · 1.35/0.65 + 1 = 7,932.69…; 3819 / (1.35/0.65) − 1 = 1,837.77…
    assert hi == pytest.approx(3819 * 1.35 / 0.65 + 1) and lo == pytest.approx(3819 * 0.65 / 1.35 - 1)
    at_edge = edit(set_(first_buy, "netbs_buy_avg_price", str(int(hi))))(real, "BBRI")
    assert sm.parse_broksum(at_edge, "BBRI", D) is not None
    beyond = edit(set_(first_buy, "netbs_buy_avg_price", str(int(hi) + 1)))(real, "BBRI")
    with pytest.raises(sm.BroksumError, match="implausible_broker_average"):
        sm.parse_broksum(beyond, "BBRI", D)


# -- through the build, on a real lake and a real DuckDB file --------------------------------


def copy_real(real: Path, lake: Lake) -> None:
    for f in sorted((real / "raw-broksum").glob("*/*.json")):
        lake.write_bytes(f"raw-broksum/{f.parent.name}/{f.name}", f.read_bytes())


def quarantine_entries(lake: Lake, d: str) -> list[dict[str, Any]]:
    out = []
    for key in lake.list(f"quarantine/{d}/daily_features/"):
        out += [json.loads(line) for line in lake.read_bytes(key).splitlines() if line.strip()]
    return out


def all_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    df = con.execute(
        "SELECT ticker, date, state, metrics_json FROM daily_features ORDER BY ticker, date"
    ).df()
    metrics = pd.DataFrame([json.loads(m) for m in df["metrics_json"]])
    return pd.concat([df.drop(columns=["metrics_json"]), metrics], axis=1)


def test_bad_files_quarantined_once_and_the_run_goes_on(
    real: Path, local_lake: Lake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy_real(real, local_lake)
    bad_keys = {broksum_key(BAD_TICKERS[n], D): expected for n, (_, expected) in BAD.items()}
    local_lake.write_many(
        {broksum_key(BAD_TICKERS[n], D): make(real, BAD_TICKERS[n]) for n, (make, _) in BAD.items()}
    )
    good_copy = (real / f"raw-broksum/BBRI/{D}.json").read_bytes()
    folder_keys = {f"raw-broksum/{f}/{D}.json" for f in BAD_FOLDERS}
    local_lake.write_many({k: good_copy for k in folder_keys})
    local_lake.write_bytes("raw-broksum/BBRI/notes.txt", b"not a summary")  # not dated: not listed
    # The edge of the rules is a session: every buyer smart, ngr exactly 1.
    local_lake.write_bytes(broksum_key("FZOK", D), edit(all_buyers_smart(0.0))(real, "FZOK"))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))

    with caplog.at_level(logging.WARNING):
        res = sm.build_daily_features(local_lake, con, DAYS)
    expected_rejects = len(bad_keys) + len(folder_keys)
    assert res.quarantined == expected_rejects
    assert set(res.quarantined_files) == set(bad_keys) | folder_keys
    for key in [*bad_keys, *folder_keys]:  # the log names every rejected file
        assert any(key in rec.getMessage() for rec in caplog.records), key

    for run in (1, 2):  # a re-run quarantines the same files again, not twice
        entries = quarantine_entries(local_lake, D)
        per_source = Counter(e["source"] for e in entries)
        assert set(per_source) == set(bad_keys) | folder_keys and set(per_source.values()) == {1}, run
        reasons = {e["source"]: e["reason"] for e in entries}
        for key, expected in bad_keys.items():
            assert code(reasons[key]) == expected, (key, reasons[key])
        for key in folder_keys:
            assert code(reasons[key]) == "invalid_ticker" and key.split("/")[1] in reasons[key]
        assert all(e["line_no"] == 0 for e in entries)
        if run == 1:
            again = sm.build_daily_features(local_lake, con, DAYS)
            assert again.quarantined == expected_rejects

    f = all_features(con)
    # Good files of the same date still produce their rows: the 11 real ones and FZOK.
    assert len(f) == 12
    assert set(f[f.date == pd.Timestamp(D)].ticker) == {"BBCA", "BBRI", "FZOK"}
    bbri = f[(f.ticker == "BBRI") & (f.date == pd.Timestamp(D))].iloc[0]
    assert bbri.sm_net == -90_264_496_000 and bbri.vwap == 3819
    assert bbri.ngr == pytest.approx(-0.128175, abs=5e-7)
    assert f[f.ticker == "FZOK"].ngr.tolist() == [1.0]
    assert f.ngr.between(-1, 1).all()  # SPEC §8, every row

    # The WARN checks name the files: all of them quarantined, the implausible ones as such.
    outcome = {c.name: c for c in sm.checks(local_lake, con, D)}
    q, p = outcome["broksum_quarantined"], outcome["broksum_plausible"]
    assert not q.passed and q.severity == "WARN" and q.metadata["quarantined"] == expected_rejects
    implausible = {k for k, c in bad_keys.items() if c.startswith("implausible")}
    assert len(implausible) == 10
    assert not p.passed and p.severity == "WARN" and set(p.metadata["files"]) == implausible
    assert sorted(implausible)[0] in p.description
    clean = {c.name: c for c in sm.checks(local_lake, con, "2026-01-21")}
    assert clean["broksum_quarantined"].passed and clean["broksum_plausible"].passed


def test_suffixed_ticker_folder_is_a_session(real: Path, local_lake: Lake, tmp_path: Path) -> None:
    """SPEC §7 admits IDX warrants/rights (`PJHB-W`); their folders are read, not quarantined."""
    if not keys.TICKER_RE.match("PJHB-W"):
        pytest.skip("keys.TICKER_RE does not yet admit the SPEC §7 -W/-R suffix (owned by keys.py)")
    doc = base(real)
    doc["data"]["broker_summary"]["symbol"] = "PJHB-W"
    local_lake.write_bytes(broksum_key("PJHB-W", D), json.dumps(doc).encode())
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    res = sm.build_daily_features(local_lake, con, [D])
    assert res.quarantined == 0 and res.sessions_parsed == 1
    assert con.execute("SELECT ticker FROM daily_features").fetchall() == [("PJHB-W",)]


def test_stale_row_from_an_older_parser_is_reparsed(real: Path, local_lake: Lake, tmp_path: Path) -> None:
    """A broker_daily row an older parser let through (ngr 8.26, parsed under other rules) is read
    again under the current rules on the next run, instead of failing the ngr guard forever."""
    copy_real(real, local_lake)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sm.build_daily_features(local_lake, con, DAYS)
    con.execute(
        "UPDATE broker_daily SET sm_net = 8.26 * value, categories = 'older-rules' "
        "WHERE ticker = 'BBRI' AND date = ?",
        [D],
    )
    res = sm.build_daily_features(local_lake, con, DAYS)
    assert res.objects_parsed == 1
    row = con.execute("SELECT sm_net FROM broker_daily WHERE ticker = 'BBRI' AND date = ?", [D]).fetchone()
    assert row == (-90_264_496_000,)


def test_stale_row_whose_object_left_the_lake_is_quarantined(
    real: Path, local_lake: Lake, tmp_path: Path
) -> None:
    """The same stale row on a look-back date whose object is gone (lake retention): it cannot be
    re-read, so it leaves broker_daily with a quarantine entry naming it, and the run succeeds."""
    copy_real(real, local_lake)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sm.build_daily_features(local_lake, con, DAYS)
    con.execute(
        "UPDATE broker_daily SET sm_net = -8.26 * value WHERE ticker = 'TLKM' AND date = '2026-01-20'"
    )
    local_lake.delete(broksum_key("TLKM", "2026-01-20"))
    res = sm.build_daily_features(local_lake, con, [DAYS[-1]])  # the 20th is a look-back date here
    key = broksum_key("TLKM", "2026-01-20")
    assert res.quarantined == 1 and code(res.quarantined_files[key]) == "implausible_stored_row"
    assert [e["source"] for e in quarantine_entries(local_lake, "2026-01-20")] == [key]
    gone = con.execute("SELECT count(*) FROM broker_daily WHERE ticker = 'TLKM' AND date = '2026-01-20'")
    assert gone.fetchone() == (0,)
    assert all_features(con).ngr.between(-1, 1).all()


def test_ngr_guard_at_the_write_names_the_row(real: Path, local_lake: Lake, tmp_path: Path) -> None:
    """No path can store ngr outside [−1, 1]: a hand-filled broker_daily row with smart-money net
    above the day's value stops the write with an error naming ticker and date, and the previous
    daily_features rows stay as they were."""
    copy_real(real, local_lake)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sm.build_daily_features(local_lake, con, DAYS)
    before = all_features(con)
    con.execute(
        "UPDATE broker_daily SET sm_net = -8.26 * value WHERE ticker = 'TLKM' AND date = '2026-01-21'"
    )
    with pytest.raises(sm.NgrOutOfRange, match=r"TLKM 2026-01-21 ngr=-8\.26"):
        sm.features_from_table(local_lake, con, DAYS)
    pd.testing.assert_frame_equal(all_features(con), before)
