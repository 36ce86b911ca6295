"""daily_features: end-of-day smart-money context per trading date (SPEC §8).

Thin on purpose: the asset resolves its dates and calls `smart_money.build_daily_features` once for
all of them (a year's backfill is one run, one listing, one write), then reports metadata and the
integrity checks computed by `smart_money.checks`.
"""

# No `from __future__ import annotations`: Dagster inspects the real context/resource types.
from datetime import date

from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    TimeWindowPartitionMapping,
    asset,
)

from assets.checks.results import check_specs, fold_checks
from assets.layers.metadata import report_partition
from assets.layers.raw_broksum import raw_broksum  # broker summaries, fetched after the close
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, IO_RETRY, LakeResource, WarehouseResource
from orderflow_pipeline.layers import smart_money

ASSET = "daily_features"


class FeaturesConfig(Config):
    """Operator control (`orderflow materialize --force`): re-read the dates' broker summaries
    whatever `broker_daily` holds."""

    force: bool = False


@asset(
    partitions_def=trading_days,
    deps=[
        AssetDep(
            raw_broksum, partition_mapping=TimeWindowPartitionMapping(start_offset=-(smart_money.WINDOW - 1))
        )
    ],
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=IO_RETRY,
    pool=DUCKDB_POOL,
    check_specs=check_specs(ASSET),
    group_name="smart_money",
    description="Per ticker and trading date: 20-session smart-money z-scores, state and score "
    "(DuckDB daily_features + features/z_score/ lake files).",
)
def daily_features(
    context: AssetExecutionContext, config: FeaturesConfig, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    dates = sorted(date.fromisoformat(k) for k in context.partition_keys)
    lk = lake.get()
    with warehouse.write() as con:
        res = smart_money.build_daily_features(lk, con, dates, force=config.force)
        # Each check input is gathered once for all the dates (one listing, one query), not per
        # date; the broker summaries present are the sync's own listing of them.
        present = res.broksum
        traded = smart_money.traded_tickers_by_date(lk, dates)
        health = smart_money.feature_health_by_date(con, dates)
        per_date = {
            d: smart_money.checks(lk, con, d, broksum=present[d], traded=traded[d], health=health[d])
            for d in dates
        }
    # The broker-summary sync (objects listed, parsed, quarantined) is the run's work, over the
    # dates and their look-back: the run log has it; each date shows its own feature rows.
    context.log.info(f"daily_features {dates[0]}..{dates[-1]}: {res.metadata()}")
    for d in dates:
        report_partition(context, d.isoformat(), res.per_date.get(d, {"rows": 0, "tickers": 0}))
    return MaterializeResult(check_results=fold_checks(ASSET, per_date))


defs = Definitions(assets=[daily_features])
