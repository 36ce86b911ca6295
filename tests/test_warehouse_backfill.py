"""A backfill's warehouse writes, several dates per transaction (warehouse/backfill.py, issue 28).

What must hold whatever the grouping: each date all or nothing (a failure inside a group leaves
every date of that group as it was, earlier groups loaded), a date reported only once committed,
the next run loading what a failed one left out, the tables equal to one transaction per date
(`load.consolidate`), and DuckDB's settings given back afterwards.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.layers.footprint import build as footprint
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage.lake import Lake
from orderflow_pipeline.warehouse import backfill, load
from orderflow_pipeline.warehouse.schema import ensure_schema

DAYS = idx_calendar.trading_days(date(2026, 2, 2), date(2026, 2, 13))[:5]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("backfill") / "lake"))
    simulate_range(lake, DAYS[0], DAYS[-1], n_tickers=3, seed=5)
    for d in DAYS:
        footprint.build_footprint(lake, d)
    return lake


def _tables(con: duckdb.DuckDBPyConnection) -> tuple[list[Any], ...]:
    return tuple(
        con.execute(sql).fetchall()
        for sql in (
            "SELECT * FROM footprint_1m ORDER BY ALL",
            "SELECT * FROM footprint_levels ORDER BY ALL",
            "SELECT * EXCLUDE (loaded_at) FROM ingest_manifest ORDER BY ALL",
        )
    )


def _fresh(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    ensure_schema(con)
    return con


def _dates(con: duckdb.DuckDBPyConnection, table: str) -> list[date]:
    return [r[0] for r in con.execute(f"SELECT DISTINCT date FROM {table} ORDER BY 1").fetchall()]


def test_grouped_tables_equal_one_transaction_per_date(market: Lake, tmp_path: Path) -> None:
    serial = _fresh(tmp_path / "serial.duckdb")
    expected = [load.consolidate(market, serial, d) for d in DAYS]
    want = _tables(serial)
    assert want[0] and want[1]
    for group_dates in (1, 2, 32):
        con = _fresh(tmp_path / f"g{group_dates}.duckdb")
        seen = []
        for res, _ in backfill.consolidate_dates(market, con, DAYS, workers=1, group_dates=group_dates):
            # reported only once committed: another connection to the database sees its rows
            other = con.cursor()
            row = other.execute("SELECT count(*) FROM footprint_1m WHERE date = ?", [res.date]).fetchone()
            other.close()
            assert row is not None and row[0] == res.rows > 0
            seen.append(res)
        assert [r.date for r in seen] == [r.date for r in expected]
        strip = [{k: v for k, v in r.as_metadata().items() if k != "seconds"} for r in seen]
        assert strip == [{k: v for k, v in r.as_metadata().items() if k != "seconds"} for r in expected]
        assert _tables(con) == want
        con.close()
    serial.close()


def test_a_failure_inside_a_group_leaves_its_dates_as_they_were(
    market: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = _fresh(tmp_path / "wh.duckdb")
    real = load.replace_rows
    failing = DAYS[3]  # the second date of the group DAYS[2:4]: DAYS[2]'s rows are written by then

    def replace_rows(c: duckdb.DuckDBPyConnection, validated: Any, *a: Any, **kw: Any) -> load.LoadResult:
        if validated.candles.num_rows and str(validated.candles.column("date")[0]) == failing.isoformat():
            raise duckdb.ConstraintException("injected failure")
        return real(c, validated, *a, **kw)

    monkeypatch.setattr(load, "replace_rows", replace_rows)
    reported = []
    with pytest.raises(duckdb.ConstraintException, match="injected"):
        for res, _ in backfill.consolidate_dates(market, con, DAYS, workers=1, group_dates=2):
            reported.append(date.fromisoformat(res.date))
    assert reported == DAYS[:2]
    for table in ("footprint_1m", "footprint_levels", "ingest_manifest"):
        assert _dates(con, table) == DAYS[:2], table  # DAYS[2] rolled back with its group
    con.execute("BEGIN TRANSACTION")  # no transaction left open by the failed backfill
    con.execute("ROLLBACK")

    monkeypatch.setattr(load, "replace_rows", real)
    again = list(backfill.consolidate_dates(market, con, DAYS, workers=1, group_dates=2))
    assert [r.objects_skipped > 0 for r, _ in again] == [True, True, False, False, False]
    serial = _fresh(tmp_path / "serial.duckdb")
    for d in DAYS:
        load.consolidate(market, serial, d)
    assert _tables(con) == _tables(serial)
    con.close()
    serial.close()


def test_settings_are_given_back(market: Lake, tmp_path: Path) -> None:
    con = _fresh(tmp_path / "wh.duckdb")
    query = "SELECT current_setting('threads'), current_setting('memory_limit')"
    default = con.execute(query).fetchone()
    inside = []
    for _ in backfill.consolidate_dates(market, con, DAYS[:2], workers=1):
        inside.append(con.execute(query).fetchone())
    assert inside[0] is not None and int(inside[0][0]) == backfill.BACKFILL_THREADS
    assert inside[0] != default and con.execute(query).fetchone() == default
    con.execute("SET threads = 3")
    con.execute("SET memory_limit = '1GiB'")
    configured = con.execute(query).fetchone()
    list(backfill.consolidate_dates(market, con, DAYS[:2], workers=1, force=True))
    assert con.execute(query).fetchone() == configured
    con.close()
