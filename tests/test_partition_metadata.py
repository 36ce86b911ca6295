"""A single-run backfill through Dagster: each partition's materialization carries that date's own
figures (not the run's totals), durations are rounded, and the run is named for what it runs.

One run of every layer over three simulated dates (`materialize_range`, as the CLI and the demo
launch it); the expected figures are read back from what the run wrote (the lake's summary
documents and signal-outcome files, the warehouse tables), date by date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from orderflow_pipeline import idx_calendar
from orderflow_pipeline.simulator import simulate_range
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake

START, END = date(2026, 2, 18), date(2026, 2, 20)  # Wednesday..Friday: three trading days
DAYS = [d.isoformat() for d in idx_calendar.trading_days(START, END)]
assert len(DAYS) == 3
ASSETS = ("footprint_ndjson", "footprint_1m", "daily_features", "footprint_summary", "signal_outcomes")


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DagsterInstance, str, Path]]:
    from assets.definitions import build_defs
    from assets.runtime.range_runs import materialize_range

    root = tmp_path_factory.mktemp("partition_metadata")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORDERFLOW_LAKE", str(root / "lake"))
        mp.setenv("ORDERFLOW_DUCKDB", str(root / "warehouse.duckdb"))
        mp.setenv("DAGSTER_HOME", str(home))
        for name in ("ORDERFLOW_S3_ENDPOINT_URL", "ORDERFLOW_MIN_WAREHOUSE_TICKERS"):
            mp.delenv(name, raising=False)
        simulate_range(Lake(str(root / "lake")), START, END, n_tickers=8, seed=3, trade_scale=0.05)
        instance = DagsterInstance.get()
        try:
            result = materialize_range(build_defs(), START, END, instance=instance, raise_on_error=False)
            yield instance, result.run_id, root
        finally:
            instance.dispose()


def partition_metadata(instance: DagsterInstance, asset: str, day: str) -> dict[str, Any]:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    assert records, f"{asset} has no materialization for {day}"
    mat = records[0].asset_materialization
    assert mat is not None
    return {k: v.value for k, v in mat.metadata.items()}


def test_each_partition_reports_its_own_figures(backfill: tuple[DagsterInstance, str, Path]) -> None:
    instance, _, root = backfill
    lake = Lake(str(root / "lake"))
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    items = {d: len(lake.read_json(keys.summary_key(d))["items"]) for d in DAYS}
    # Three dates with items: a run-wide total (their sum) can equal no single date's count.
    assert all(items.values()) and sum(items.values()) > max(items.values())
    for d in DAYS:
        summary = partition_metadata(instance, "footprint_summary", d)
        assert summary["items"] == items[d], d
        assert sum(summary["signal_counts"].values()) == items[d]
        outcomes = partition_metadata(instance, "signal_outcomes", d)
        assert outcomes["items"] == items[d] and outcomes["date"] == d

        ((candles,),) = con.execute("SELECT count(*) FROM footprint_1m WHERE date = ?", [d]).fetchall()
        assert candles > 0
        # first load of the date: every candle the footprint build wrote is a row it inserted
        assert partition_metadata(instance, "footprint_1m", d)["rows"] == candles
        assert partition_metadata(instance, "footprint_ndjson", d)["candles_written"] == candles

        ((features,),) = con.execute("SELECT count(*) FROM daily_features WHERE date = ?", [d]).fetchall()
        assert partition_metadata(instance, "daily_features", d)["rows"] == features


def test_rounded_is_the_one_rule_for_durations() -> None:
    from assets.layers.metadata import rounded

    # the figure: a sum of per-date durations, float noise and all
    facts = {"seconds": 0.8150000000000004, "per": {"write_seconds": 1.23456}, "rows": 3, "x": 0.1234}
    assert rounded(facts) == {"seconds": 0.815, "per": {"write_seconds": 1.235}, "rows": 3, "x": 0.1234}


def test_durations_are_rounded_to_milliseconds(backfill: tuple[DagsterInstance, str, Path]) -> None:
    instance, _, _ = backfill
    seen = 0
    for asset in ASSETS:
        for d in DAYS:
            for k, v in partition_metadata(instance, asset, d).items():
                if k.endswith("seconds"):
                    seen += 1
                    assert isinstance(v, float) and round(v, 3) == v, (asset, d, k, v)
    assert seen >= 3 * 4  # footprint, warehouse, summary and outcomes report their durations


def test_the_run_is_named_for_what_it_runs(backfill: tuple[DagsterInstance, str, Path]) -> None:
    instance, run_id, _ = backfill
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.job_name == "materialize_layers"
