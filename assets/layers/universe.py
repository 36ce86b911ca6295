"""ticker_universe: the expected-ticker universe per trading date (issue 19, SPEC §15).

Thin: folds what the lake shows on the run's dates into the universe (`universe.update_universe`:
DuckDB `universe` + `features/universe.json`) and reports the completeness check naming the
tickers that traded on the previous session and are missing on the date.
"""

# No `from __future__ import annotations`: Dagster inspects the real context/resource types.
from datetime import date

from dagster import AssetExecutionContext, BackfillPolicy, Definitions, MaterializeResult, asset

from assets.checks.results import check_specs, fold_checks
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, IO_RETRY, LakeResource, WarehouseResource
from orderflow_pipeline.layers import universe

ASSET = universe.ASSET


@asset(
    partitions_def=trading_days,
    deps=["footprint_ndjson", "raw_broksum"],
    backfill_policy=BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    retry_policy=IO_RETRY,
    check_specs=check_specs(ASSET),
    group_name="operations",
    description="Listed tickers (IDX snapshot) with first/last seen and last traded dates, from the "
    "lake's footprint files and broker summaries (DuckDB universe + features/universe.json). "
    "Runbook: docs/runbook.md#a-ticker-disappeared",
)
def ticker_universe(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    dates = sorted(date.fromisoformat(k) for k in context.partition_keys)
    lk = lake.get()
    traded = universe.traded_with_previous(lk, dates)  # one pass over the footprint folders
    with warehouse.write() as con:
        res = universe.update_universe(lk, con, dates, traded=traded)
    per_date = {d: universe.checks(lk, None, d, traded=traded) for d in dates}
    context.log.info(f"ticker_universe {dates[0]}..{dates[-1]}: {res.as_metadata()}")
    for d in dates:
        # `tickers` is the universe after the update: the same for every date of the run, and true for each.
        key = d.isoformat()
        report_partition(context, key, {"seen": res.seen_by_date.get(key, 0), "tickers": res.tickers})
    return MaterializeResult(check_results=fold_checks(ASSET, per_date))


defs = Definitions(assets=[ticker_universe])
