"""The footprint_summary asset on a real Dagster instance, with pre-loaded warehouse tables."""

from __future__ import annotations

from datetime import date

import duckdb
from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from test_summary import day_files, insert_features, insert_warehouse, write_files

from assets.automation.sensors.warehouse_coverage import warehouse_tickers_reported
from assets.layers.summary import footprint_summary
from assets.resources import build_resources
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.storage import inventory, keys
from orderflow_pipeline.storage.lake import Lake

D1, D2 = date(2026, 2, 5), date(2026, 2, 6)


def _preload(tickers: list[str], dates: list[date]) -> Lake:
    s = get_settings()
    lake = Lake.from_settings(s)
    con = duckdb.connect(s.warehouse_target.location)
    try:
        for d in dates:
            files = day_files(d, tickers, seed=d.toordinal())
            write_files(lake, files)
            insert_warehouse(con, files)
        insert_features(con, [(date(2026, 2, 4), "T001", "ACCUMULATION", 1.1)])
    finally:
        con.close()
    return lake


def summary_mats(result) -> list[AssetMaterialization]:  # noqa: ANN001 - ExecuteInProcessResult
    """The step's footprint_summary materializations (a self-heal also reports one of footprint_1m)."""
    mats = result.asset_materializations_for_node("footprint_summary")
    return [m for m in mats if m.asset_key == AssetKey("footprint_summary")]


def _run(instance: DagsterInstance, partition: str, run_config: dict | None = None):  # noqa: ANN202
    return materialize(
        [footprint_summary],
        partition_key=partition,
        resources=build_resources(),
        instance=instance,
        run_config=run_config or {},
    )


def test_materialize_newer_then_older(instance: DagsterInstance) -> None:
    lake = _preload([f"T{i:03d}" for i in range(5)], [D1, D2])
    cfg = {"ops": {"footprint_summary": {"config": {"source": None}}}}
    res = _run(instance, D2.isoformat(), cfg)
    assert res.success
    mat = summary_mats(res)[0]
    # 5 tickers < 200 (default setting): built from the lake; context 2026-02-04 (newest before D1/D2)
    assert mat.metadata["items"].value == 5
    assert mat.metadata["source"].value == "lake"
    assert mat.metadata["ctx_date"].value == "2026-02-04"
    assert sum(mat.metadata["signal_counts"].value.values()) == 5
    checks = {c.check_name: c for c in res.get_asset_check_evaluations()}
    assert checks["summary_has_items"].passed and checks["summary_has_items"].severity.value == "ERROR"
    assert all(c.passed for c in checks.values()), {
        n: c.description for n, c in checks.items() if not c.passed
    }
    # the older date afterwards: its own file is written, the latest copy stays on the newer date
    assert _run(instance, D1.isoformat()).success
    assert lake.read_json(keys.SUMMARY_LATEST)["date"] == D2.isoformat()
    assert lake.read_json(keys.summary_key(D1))["date"] == D1.isoformat()
    assert lake.read_json(keys.summary_key(D1))["ctx_date"] == "2026-02-04"
    ev = instance.get_latest_materialization_event(AssetKey("footprint_summary"))
    assert ev is not None and ev.dagster_event.partition == D1.isoformat()


def test_single_run_range_and_source_lake(instance: DagsterInstance, monkeypatch) -> None:  # noqa: ANN001
    # the warehouse holds all 3 tickers the lake has: with the floor at 1 that is the fast path
    monkeypatch.setenv("ORDERFLOW_MIN_WAREHOUSE_TICKERS", "1")
    lake = _preload(["AAA", "BBB", "CCC"], [D1, D2])
    res = materialize(
        [footprint_summary],
        resources=build_resources(),
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: D1.isoformat(), ASSET_PARTITION_RANGE_END_TAG: D2.isoformat()},
    )
    assert res.success
    mat = summary_mats(res)
    assert {m.partition for m in mat} == {D1.isoformat(), D2.isoformat()}
    # each date's own count: 3 tickers a date, not the run's 6
    assert [m.metadata["items"].value for m in mat] == [3, 3]
    assert all(m.metadata["source"].value == "warehouse" for m in mat)
    assert lake.read_json(keys.SUMMARY_LATEST)["date"] == D2.isoformat()
    # run config asks for the lake path
    res = _run(instance, D2.isoformat(), {"ops": {"footprint_summary": {"config": {"source": "lake"}}}})
    assert res.success
    assert summary_mats(res)[0].metadata["source"].value == "lake"
    assert lake.read_json(keys.summary_key(D2))["source"] == "lake"


def test_empty_date_fails_blocking_check(instance: DagsterInstance) -> None:
    res = materialize(
        [footprint_summary],
        partition_key=D2.isoformat(),
        resources=build_resources(),
        instance=instance,
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in res.get_asset_check_evaluations()}
    assert checks["summary_has_items"].passed is False
    assert checks["summary_has_items"].severity.value == "ERROR"
    spec = next(s for s in footprint_summary.check_specs if s.name == "summary_has_items")
    assert spec.blocking is True
    assert all(not s.blocking for s in footprint_summary.check_specs if s.name != "summary_has_items")


def test_self_heal_reports_a_footprint_1m_materialization(instance: DagsterInstance) -> None:
    """The summary's lake path loads the warehouse (self-heal); that write is reported as a
    footprint_1m materialization of the date, so lineage and the coverage sensor see it."""
    lake = Lake.from_settings(get_settings())
    # 5 tickers x 3 UTC hours = 15 hour files of 5 minutes each = 75 candles; the warehouse is empty.
    write_files(lake, day_files(D2, [f"T{i:03d}" for i in range(5)], seed=3))
    first = _run(instance, D2.isoformat())
    assert first.success
    assert summary_mats(first)[0].metadata["source"].value == "lake"

    def heals() -> list:
        recs = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("footprint_1m"), asset_partitions=[D2.isoformat()]),
            limit=10,
        ).records
        return sorted((r for r in recs), key=lambda r: r.storage_id)

    (rec,) = heals()
    assert rec.run_id == first.run_id  # reported by the summary's own run
    md = {k: v.value for k, v in rec.asset_materialization.metadata.items()}
    assert (md["objects_read"], md["rows"], md["tickers"], md["quarantined"]) == (15, 75, 5, 0)
    assert md["healed_by"] == "footprint_summary"
    # The coverage sensor reads the warehouse's ticker count from exactly this event.
    assert warehouse_tickers_reported(instance, D2) == 5

    # A ticker lands upstream: the next lake build heals 3 more files (15 candles), 6 tickers.
    write_files(lake, day_files(D2, ["T999"], seed=4))
    assert _run(
        instance, D2.isoformat(), {"ops": {"footprint_summary": {"config": {"source": "lake"}}}}
    ).success
    newest = heals()[-1]
    md2 = {k: v.value for k, v in newest.asset_materialization.metadata.items()}
    assert (md2["objects_read"], md2["rows"], md2["tickers"]) == (3, 15, 6)
    # plus the footprint listing the heal brought the warehouse in line with (the lake sensor's check)
    assert md2["per_date"] == {
        D2.isoformat(): {
            k: md2[k]
            for k in ("objects_read", "objects_removed", "rows", "quarantined", "tickers", "listing_digest")
        }
    }
    assert md2["listing_digest"] == inventory.listing_digest(inventory.footprint_objects(lake, D2).values())
    assert warehouse_tickers_reported(instance, D2) == 6

    # Nothing new in the lake: the lake build loads nothing, and reports no materialization.
    assert _run(
        instance, D2.isoformat(), {"ops": {"footprint_summary": {"config": {"source": "lake"}}}}
    ).success
    assert len(heals()) == 2
