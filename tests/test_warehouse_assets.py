"""The footprint_1m asset on a real Dagster instance: one date, and a 20-day backfill in one run."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import duckdb
from dagster import AssetKey, DagsterInstance, Definitions, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.layers import warehouse as wh_assets
from assets.resources import DUCKDB_POOL, build_resources
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake


def put_day(lake: Lake, d: date, tickers: list[str], minutes: int = 3) -> None:
    """One hour file (02 UTC = 09 WIB) per ticker with `minutes` valid candles."""
    hour = datetime(d.year, d.month, d.day, 2, tzinfo=timezone.utc)
    for t in tickers:
        lines = [
            json.dumps(
                {
                    "t0": int(hour.timestamp() * 1000) + 60_000 * i,
                    "ohlc": {"o": 100, "h": 101, "l": 99, "c": 100},
                    "vol": 7,
                    "delta": 1,
                    "levels": [{"p": 100, "bv": 4, "av": 3}],
                }
            )
            for i in range(minutes)
        ]
        lake.write_bytes(keys.footprint_key(t, hour), ("\n".join(lines) + "\n").encode())


def test_materialize_one_date_reports_metadata_and_warn_checks(instance: DagsterInstance) -> None:
    lake = Lake.from_settings(get_settings())
    d = date(2026, 2, 6)
    put_day(lake, d, ["BBRI", "TLKM", "ASII"])
    # Planted defect: one more BBRI line whose high (90) is below its low (99).
    bad = keys.footprint_key("BBRI", datetime(2026, 2, 6, 2, tzinfo=timezone.utc))
    lake.write_bytes(
        bad,
        lake.read_bytes(bad)
        + json.dumps(
            {
                "t0": int(datetime(2026, 2, 6, 2, 30, tzinfo=timezone.utc).timestamp() * 1000),
                "ohlc": {"o": 100, "h": 90, "l": 99, "c": 100},
                "vol": 7,
                "delta": 1,
                "levels": [{"p": 100, "bv": 4, "av": 3}],
            }
        ).encode()
        + b"\n",
    )
    res = materialize(
        [wh_assets.footprint_1m], partition_key=d.isoformat(), resources=build_resources(), instance=instance
    )
    assert res.success  # every warehouse check is WARN: nothing blocks
    md = res.asset_materializations_for_node("footprint_1m")[0].metadata
    # 3 tickers x 3 good minutes = 9 candles from 3 objects; the planted line is quarantined alone
    assert (md["objects_read"].value, md["rows"].value, md["tickers"].value, md["quarantined"].value) == (
        3,
        9,
        3,
        1,
    )
    checks = {c.check_name: c for c in res.get_asset_check_evaluations()}
    assert {c.severity.value for c in checks.values()} == {"WARN"}
    assert not checks["warehouse_min_tickers"].passed  # 3 < 50: an alert, not a block
    assert checks["warehouse_min_tickers"].metadata["detail"].value == {"tickers": 3}
    quarantine = checks["warehouse_quarantine"]
    assert not quarantine.passed and quarantine.metadata["dates_failed"].value == ["2026-02-06"]
    assert quarantine.metadata["detail"].value["quarantined"] == 1
    assert quarantine.metadata["detail"].value["examples"] == {bad: 1}
    # the neighbours of the bad line loaded: manifest and table agree, every object accounted for
    assert checks["warehouse_manifest_rows"].passed and checks["warehouse_objects_loaded"].passed
    assert checks["warehouse_ohlc_valid"].passed and checks["warehouse_unique_minutes"].passed

    again = materialize(
        [wh_assets.footprint_1m], partition_key=d.isoformat(), resources=build_resources(), instance=instance
    )
    md2 = again.asset_materializations_for_node("footprint_1m")[0].metadata
    assert (md2["objects_read"].value, md2["objects_skipped"].value, md2["rows"].value) == (0, 3, 0)
    assert wh_assets.footprint_1m.op.pool == DUCKDB_POOL
    assert wh_assets.footprint_1m.backfill_policy is not None
    assert wh_assets.footprint_1m.backfill_policy.max_partitions_per_run is None  # single run


def test_twenty_day_backfill_is_one_run(instance: DagsterInstance) -> None:
    lake = Lake.from_settings(get_settings())
    days = idx_calendar.trading_days(date(2026, 2, 2), date(2026, 3, 10))[:20]
    assert len(days) == 20
    for i, d in enumerate(days):
        put_day(lake, d, [f"T{j:02d}" for j in range(1 + i % 3)], minutes=2)
    defs = Definitions.merge(wh_assets.defs, Definitions(resources=build_resources()))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
        },
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    done = instance.get_materialized_partitions(AssetKey("footprint_1m"))
    assert done == {d.isoformat() for d in days}
    mats = result.asset_materializations_for_node("footprint_1m")
    # tickers per day cycle 1, 2, 3 (one object of 2 minutes each): each date reports its own
    assert [(m.metadata["objects_read"].value, m.metadata["rows"].value) for m in mats] == [
        (1 + i % 3, (1 + i % 3) * 2) for i in range(20)
    ]
    with duckdb.connect(get_settings().warehouse_target.location, read_only=True) as con:
        per_day = con.execute(
            "SELECT date, count(DISTINCT ticker) FROM footprint_1m GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [n for _, n in per_day] == [1 + i % 3 for i in range(20)]
    assert [d for d, _ in per_day] == days
    assert (days[-1] - days[0]) < timedelta(days=40)
