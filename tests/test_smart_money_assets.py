"""The daily_features asset on a real Dagster instance: one run for a range of trading dates."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, TimeWindowPartitionMapping
from dagster._core.definitions.backfill_policy import BackfillPolicyType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.definitions import build_defs
from assets.layers import smart_money as sm_assets
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL
from assets.runtime.range_runs import materialize_range
from orderflow_pipeline import idx_calendar
from orderflow_pipeline.config import get_settings
from orderflow_pipeline.storage import keys
from orderflow_pipeline.storage.lake import Lake


def test_partition_mapping_counts_trading_days() -> None:
    """start_offset=-19 on the exclusions-based partitions = the 19 previous TRADING days + the date
    (2026-01-16 is an IDX holiday and weekends are not partitions)."""
    mapping = TimeWindowPartitionMapping(start_offset=-19)
    sub = trading_days.empty_subset().with_partition_keys(["2026-01-22"])
    got = mapping.get_upstream_mapped_partitions_result_for_partitions(sub, trading_days, trading_days)
    keys = sorted(got.partitions_subset.get_partition_keys())
    expected = sorted(d.isoformat() for d in idx_calendar.previous_sessions("2026-01-22", 19)) + [
        "2026-01-22"
    ]
    assert keys == expected and len(keys) == 20 and "2026-01-16" not in keys
    spec = sm_assets.daily_features
    dep = spec.get_partition_mapping(AssetKey("raw_broksum"))
    assert isinstance(dep, TimeWindowPartitionMapping) and dep.start_offset == -19
    assert (
        spec.backfill_policy is not None and spec.backfill_policy.policy_type == BackfillPolicyType.SINGLE_RUN
    )
    assert spec.op.pool == DUCKDB_POOL


@pytest.mark.usefixtures("env")
def test_materialize_range_one_run(real: Path, instance) -> None:  # noqa: ANN001
    settings = get_settings()
    lake = Lake(settings.lake)
    for f in sorted((real / "raw-broksum").glob("*/*.json")):
        lake.write_bytes(f"raw-broksum/{f.parent.name}/{f.name}", f.read_bytes())
    # The project's path (CLI, demo): one run with the partition-range tags over the whole code location.
    result = materialize_range(
        build_defs(), "2026-01-19", "2026-01-22", instance=instance, asset_keys=["daily_features"]
    )
    assert result.success
    assert result.dagster_run.tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-01-19"
    assert result.dagster_run.tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-01-22"
    runs = instance.get_runs()
    assert len(runs) == 1
    mats = result.asset_materializations_for_node("daily_features")
    assert len(mats) == 4  # one materialization per partition, one run
    assert {m.partition for m in mats} == {"2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"}
    # each date its own feature rows (the run wrote 11, for 3 tickers over the 4 dates)
    with duckdb.connect(settings.warehouse_target.location, read_only=True) as con:
        rows = dict(con.execute("SELECT date::VARCHAR, count(*) FROM daily_features GROUP BY 1").fetchall())
    per = {m.partition: {k: v.value for k, v in m.metadata.items()} for m in mats}
    assert {d: md["rows"] for d, md in per.items()} == rows and sum(rows.values()) == 11
    assert max(md["tickers"] for md in per.values()) == 3
    assert all(md["insufficient_history"] == md["rows"] for md in per.values())  # 4 sessions of history
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["history_20_sessions"].passed  # 4 sessions of history in the fixtures
    assert checks["history_20_sessions"].metadata["dates_failed"].value == [
        "2026-01-19",
        "2026-01-20",
        "2026-01-21",
        "2026-01-22",
    ]
    assert checks["z_finite"].passed and checks["states_allowed"].passed and checks["broksum_present"].passed
    assert {e.severity.value for e in checks.values()} == {"WARN"}
    with duckdb.connect(settings.warehouse_target.location, read_only=True) as con:
        rows = con.execute("SELECT date, count(*) FROM daily_features GROUP BY date ORDER BY date").fetchall()
        assert [(d.isoformat(), n) for d, n in rows] == [
            ("2026-01-19", 3),
            ("2026-01-20", 3),
            ("2026-01-21", 3),
            ("2026-01-22", 2),
        ]
        m = json.loads(
            con.execute(
                "SELECT metrics_json FROM daily_features WHERE ticker='BBRI' AND date='2026-01-22'"
            ).fetchone()[0]
        )
        assert m["sm_net"] == -90_264_496_000 and m["value"] == 704_230_338_425
    for d in ("2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"):
        assert lake.exists(f"features/z_score/daily/{d}.json")
    assert len(lake.read_json("features/z_score/emiten/BBCA.json")["history"]) == 4


@pytest.mark.usefixtures("env")
def test_a_ticker_that_traded_without_a_broker_summary_fails_broksum_present(real: Path, instance) -> None:  # noqa: ANN001
    lake = Lake(get_settings().lake)
    for f in sorted((real / "raw-broksum").glob("*/*.json")):
        lake.write_bytes(f"raw-broksum/{f.parent.name}/{f.name}", f.read_bytes())
    # Planted defect: ZZZZ traded on the 21st (a footprint hour file) but has no broker summary.
    lake.write_bytes(keys.footprint_key("ZZZZ", datetime(2026, 1, 21, 2, tzinfo=timezone.utc)), b"")
    result = materialize_range(
        build_defs(), "2026-01-20", "2026-01-21", instance=instance, asset_keys=["daily_features"]
    )
    assert result.success  # WARN: alerts, never blocks
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["broksum_present"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["dates_failed"].value == ["2026-01-21"]
    detail = check.metadata["detail"].value
    assert (detail["date"], detail["missing"], detail["traded"]) == ("2026-01-21", ["ZZZZ"], 1)
