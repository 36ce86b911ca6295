"""daily_features: end-of-day smart-money context per trading date (SPEC §8).

Thin on purpose: the asset resolves its dates and calls `smart_money.build_daily_features` once for
all of them (a year's backfill is one run, one listing, one write), then reports metadata and the
integrity checks computed by `smart_money.checks`.
"""

# No `from __future__ import annotations`: Dagster inspects the real context/resource types.
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Definitions,
    MaterializeResult,
    TimeWindowPartitionMapping,
    asset,
)

from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, LakeResource, WarehouseResource
from orderflow_pipeline import smart_money
from orderflow_pipeline.checks import CheckOutcome

# Broker summaries land upstream (IPOT), one object per ticker and trading date.
raw_broksum = AssetSpec(
    "raw_broksum",
    partitions_def=trading_days,
    description="IPOT broker summaries raw-broksum/{T}/{date}.json, written by the upstream feed.",
    group_name="sources",
)

CHECK_NAMES = ("broksum_present", "broksum_quarantined", "history_20_sessions", "z_finite", "states_allowed")


def _combine(per_date: dict[date, list[CheckOutcome]]) -> list[AssetCheckResult]:
    """One result per check for the run: failed if it failed on any of the run's dates."""
    results = []
    for name in CHECK_NAMES:
        outs = [(d, o) for d, lst in per_date.items() for o in lst if o.name == name]
        if not outs:
            continue
        failed = [(d, o) for d, o in outs if not o.passed]
        d_last, o_last = (failed or outs)[-1]
        results.append(AssetCheckResult(
            check_name=name,
            asset_key="daily_features",
            passed=not failed,
            severity=AssetCheckSeverity.WARN,
            description=o_last.description,
            metadata={
                "dates_checked": len(outs),
                "dates_failed": [d.isoformat() for d, _ in failed][:100],
                "newest_failed_detail": o_last.metadata if failed else {},
            },
        ))
    return results


@asset(
    partitions_def=trading_days,
    deps=[AssetDep(raw_broksum, partition_mapping=TimeWindowPartitionMapping(start_offset=-(smart_money.WINDOW - 1)))],
    backfill_policy=BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    check_specs=[AssetCheckSpec(name, asset="daily_features", blocking=False) for name in CHECK_NAMES],
    group_name="smart_money",
    description="Per ticker and trading date: 20-session smart-money z-scores, state and score "
    "(DuckDB daily_features + features/z_score/ lake files).",
)
def daily_features(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    dates = sorted(date.fromisoformat(k) for k in context.partition_keys)
    lk = lake.get()
    with warehouse.write() as con:
        res = smart_money.build_daily_features(lk, con, dates)
        per_date = {d: smart_money.checks(lk, con, d) for d in dates}
    context.log.info(f"daily_features {dates[0]}..{dates[-1]}: {res.metadata()}")
    return MaterializeResult(metadata=res.metadata(), check_results=_combine(per_date))


defs = Definitions(assets=[raw_broksum, daily_features])
