"""The ticker universe (issue 19): snapshot seed, first/last seen from the lake, idempotent and
order-free updates, and the completeness check naming tickers missing since the previous session."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.checks import REGISTRY
from orderflow_pipeline.layers import universe
from orderflow_pipeline.layers.footprint.build import build_footprint
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.inventory import (
    footprint_objects,
    footprint_tickers,
    footprint_tickers_by_date,
)
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse.schema import ensure_schema

DAYS = idx_calendar.trading_days("2026-02-02", "2026-02-04")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lk = Lake(str(tmp_path_factory.mktemp("universe") / "lake"))
    simulate_range(lk, DAYS[0], DAYS[-1], n_tickers=6, seed=11)
    for d in DAYS:
        build_footprint(lk, d)
    return lk


def _con(folder: Path) -> duckdb.DuckDBPyConnection:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(folder / "w.duckdb"))
    ensure_schema(con)
    return con


def test_snapshot_seed_is_the_real_idx_list() -> None:
    snap = universe.snapshot_tickers()
    rows = [line.split(",", 1)[0] for line in universe.snapshot_text().splitlines()[1:]]
    # 1,234 rows in the packaged snapshot (SPEC §14): 1,217 plain codes and 17 with a '-' suffix
    # (warrants like PJHB-W, and R-LQ45X); those enter once keys.TICKER_RE admits the SPEC §7
    # suffix — 16 of them then, R-LQ45X's 5-character suffix never.
    assert len(rows) == 1234
    assert len(snap) == sum(1 for t in rows if keys.TICKER_RE.match(t)) >= 1217
    assert {"BBCA", "BBRI", "TLKM", "AADI"} <= snap


def test_update_records_first_and_last_seen(lake: Lake, tmp_path: Path) -> None:
    con = _con(tmp_path)
    traded = {d: {k.split("/")[1] for k in lake.list("footprint/") if f"/{d:%Y/%m/%d}/" in k} for d in DAYS}
    res = universe.update_universe(lake, con, DAYS)
    rows = {r["ticker"]: r for r in universe.universe_rows(con)}
    seen_all = set().union(*traded.values())
    assert res.seen >= len(seen_all) > 0
    assert res.tickers == len(rows) >= len(universe.snapshot_tickers())
    for t in seen_all:
        mine = sorted(d for d in DAYS if t in traded[d])
        assert rows[t]["first_seen"] <= mine[0].isoformat()
        assert rows[t]["last_traded"] == mine[-1].isoformat()
    # A listed code never seen has no dates.
    assert rows["AADI"] == {"ticker": "AADI", "in_snapshot": True, "first_seen": None, "last_seen": None,
                            "last_traded": None} or "AADI" in seen_all  # fmt: skip
    # The lake file holds the same rows.
    doc = json.loads(lake.read_bytes(keys.UNIVERSE_KEY))
    assert doc["tickers"] == universe.universe_rows(con) and doc["count"] == len(rows)


def test_update_is_idempotent_and_order_free(lake: Lake, tmp_path: Path) -> None:
    a = _con(tmp_path / "a")
    universe.update_universe(lake, a, DAYS)
    once = universe.universe_rows(a)
    again = universe.update_universe(lake, a, DAYS)
    assert universe.universe_rows(a) == once
    assert again.lake_file_written is False  # unchanged universe: the lake file is not rewritten
    b = _con(tmp_path / "b")
    for d in reversed(DAYS):  # a backfill newest-first gives the same table
        universe.update_universe(lake, b, [d])
    assert universe.universe_rows(b) == once


def test_a_ticker_not_listed_is_added(lake: Lake, tmp_path: Path) -> None:
    lk = Lake(str(tmp_path / "lake"))
    body = lake.read_bytes(keys.broksum_key(lake.list("raw-broksum/")[0].split("/")[1], DAYS[0]))
    lk.write_bytes(keys.broksum_key("ZZNEW", DAYS[1]), body)
    con = _con(tmp_path)
    res = universe.update_universe(lk, con, DAYS)
    row = next(r for r in universe.universe_rows(con) if r["ticker"] == "ZZNEW")
    assert res.new == 1
    # A broker summary is a sighting, not a trade.
    assert row == {"ticker": "ZZNEW", "in_snapshot": False, "first_seen": DAYS[1].isoformat(),
                   "last_seen": DAYS[1].isoformat(), "last_traded": None}  # fmt: skip


def test_check_names_tickers_missing_since_the_previous_session(lake: Lake, tmp_path: Path) -> None:
    d_prev, d = DAYS[1], DAYS[2]
    [ok] = universe.checks(lake, None, d)
    assert ok.name == "universe_previous_session_present" and ok.passed, ok.description
    # Drop one ticker's trades on d: its hour files go (the footprint layer's view of the tape).
    lk = Lake(str(tmp_path / "lake"))
    for k in lake.list("footprint/"):
        lk.write_bytes(k, lake.read_bytes(k))
    gone = sorted({k.split("/")[1] for k in lk.list("footprint/")})[0]
    for h in keys.footprint_hours_utc(d):
        if lk.exists(keys.footprint_key(gone, h)):
            lk.delete(keys.footprint_key(gone, h))
    [bad] = universe.checks(lk, None, d)
    assert not bad.passed and bad.severity == "WARN"
    assert bad.metadata["missing_tickers"] == [gone]
    assert bad.description == f"1 ticker(s) traded on {d_prev} and have no trade on {d}: {gone}"


def test_registry_entry_links_the_runbook() -> None:
    d = REGISTRY["universe_previous_session_present"]
    assert d.asset == universe.ASSET and d.severity == "WARN"
    assert d.runbook is not None and d.runbook.startswith("docs/runbook.md#")
    assert d.spec_description.endswith(f"Runbook: {d.runbook}")


def test_no_previous_session_passes(tmp_path: Path) -> None:
    [o] = universe.checks(Lake(str(tmp_path / "lake")), None, date(2026, 2, 2))
    assert o.passed


def test_tickers_by_date_is_the_per_date_listing(lake: Lake, tmp_path: Path) -> None:
    """One pass over the footprint folders gives each date exactly the tickers its own listing
    gives, whatever else the folders hold: a temp file, a directory or a broken or looping link
    named like an hour file, another date's hour, a folder that is not a ticker."""
    lk = Lake(str(tmp_path / "lake"))
    for k in lake.list("footprint/"):
        lk.write_bytes(k, lake.read_bytes(k))
    root = Path(lk.path("footprint"))
    t = sorted(p.name for p in root.iterdir())[0]
    h = keys.footprint_hours_utc(DAYS[1])[20]  # an hour no simulated trade falls in
    for name in ("ZZTMP", "ZZDIR"):
        (root / name / "1m" / f"{h:%Y/%m/%d}").mkdir(parents=True)
    (root / "ZZTMP" / "1m" / f"{h:%Y/%m/%d}" / f".tmp-x-{h:%H}.jsonl").write_text("{}\n")
    (root / "ZZDIR" / "1m" / f"{h:%Y/%m/%d}" / f"{h:%H}.jsonl").mkdir()  # a directory is no hour file
    for name, target in (("loop", "loop"), ("gone", "nowhere")):
        folder = root / f"ZZ{name.upper()}" / "1m" / f"{h:%Y/%m/%d}"
        folder.mkdir(parents=True)
        (folder / f"{h:%H}.jsonl").symlink_to(
            folder / f"{h:%H}.jsonl" if target == "loop" else folder / target
        )
    (root / "not-a-ticker" / "1m" / f"{h:%Y/%m/%d}").mkdir(parents=True)
    (root / "not-a-ticker" / "1m" / f"{h:%Y/%m/%d}" / f"{h:%H}.jsonl").write_text("{}\n")
    linked = root / "ZZLINK" / "1m" / f"{h:%Y/%m/%d}"
    linked.mkdir(parents=True)
    (linked / f"{h:%H}.jsonl").symlink_to(next(p for p in (root / t).rglob("*.jsonl") if p.is_file()))
    days = [idx_calendar.previous_sessions(DAYS[0], 1)[0], *DAYS]
    want = {d: footprint_tickers(footprint_objects(lk, d)) for d in days}
    assert "ZZLINK" in want[DAYS[1]] and not {"ZZLOOP", "ZZGONE", "ZZDIR", "ZZTMP"} & want[DAYS[1]]
    assert footprint_tickers_by_date(lk, days) == want
    assert universe.traded_with_previous(lk, DAYS[1:]) == {d: want[d] for d in DAYS}


def test_backfill_inputs_give_the_same_universe_and_checks(lake: Lake, tmp_path: Path) -> None:
    """The asset's one-pass inputs (`traded_with_previous`) change nothing the update or the
    checks produce."""
    a, b = _con(tmp_path / "a"), _con(tmp_path / "b")
    universe.update_universe(lake, a, DAYS)
    traded = universe.traded_with_previous(lake, DAYS)
    universe.update_universe(lake, b, DAYS, traded=traded)
    assert universe.universe_rows(b) == universe.universe_rows(a)
    for d in DAYS:
        assert universe.checks(lake, None, d, traded=traded) == universe.checks(lake, None, d)
