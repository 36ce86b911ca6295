"""The `footprint_1m` asset (SPEC §7): thin, calls `warehouse.load.consolidate` for each date of the run.

Incremental by the warehouse's own manifest, so the 5-minute schedule reads only new hour files;
a backfill of many dates is one run (BackfillPolicy.single_run) looping over its partition keys
inside one DuckDB write connection. Checks come from `warehouse.checks` (the same code
`GET /integrity` runs), folded over the run's dates: a check passes only when every date passes.
All of them are WARN (SPEC §11): a thin warehouse date is healed by the summary, not blocked.
"""

# no `from __future__ import annotations`: Dagster resolves config and resource annotations at runtime

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    Definitions,
    MaterializeResult,
    asset,
)

from assets.checks.results import check_specs, fold_checks
from assets.layers.metadata import report_partition
from assets.partitions import trading_days
from assets.resources import DUCKDB_POOL, IO_RETRY, LakeResource, SettingsResource, WarehouseResource
from orderflow_pipeline.checks import CheckOutcome
from orderflow_pipeline.warehouse import backfill, load
from orderflow_pipeline.warehouse import checks as warehouse_checks

ASSET = load.ASSET


class WarehouseConfig(Config):
    """Operator controls: `force` re-reads every object; `retention_days` prunes older dates
    (default None: keep everything — the original's 3-day limit was a D1 size limit)."""

    force: bool = False
    retention_days: int | None = None
    # Reload only these tickers' objects and rows (`orderflow materialize --tickers A,B`).
    tickers: list[str] | None = None


@asset(
    deps=[AssetKey("footprint_ndjson")],
    partitions_def=trading_days,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=IO_RETRY,
    pool=DUCKDB_POOL,
    check_specs=check_specs(ASSET),
    group_name="warehouse",
    description="DuckDB footprint_1m + footprint_levels: the date's footprint hour files, validated, "
    "loaded incrementally by manifest (ingest_manifest).",
)
def footprint_1m(
    context: AssetExecutionContext,
    config: WarehouseConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    settings: SettingsResource,
) -> MaterializeResult:  # type: ignore[type-arg, unused-ignore]  # Dagster needs it bare
    the_lake = lake.get()
    floor = settings.min_warehouse_tickers
    outcomes: dict[str, list[CheckOutcome]] = {}
    with warehouse.write() as con:
        # Listing, reading and validating run on every core a few dates ahead; the writes stay
        # here, in date order, several dates per transaction (the single DuckDB writer); a date
        # comes back once committed.
        for res, prepared in backfill.consolidate_dates(
            the_lake,
            con,
            sorted(context.partition_keys),
            force=config.force,
            retention_days=config.retention_days,
            tickers=config.tickers,
            handover=lake.handover(),
        ):
            key = res.date
            facts = res.as_metadata()
            report_partition(context, key, facts)
            outcomes[key] = warehouse_checks.checks(
                the_lake,
                con,
                key,
                min_tickers=settings.min_warehouse_tickers_warn,
                fast_path_tickers=floor,
                listed=prepared.listed if config.tickers is None else None,
            )
            context.log.info(f"footprint_1m {key}: {facts}")
    return MaterializeResult(check_results=fold_checks(ASSET, outcomes))


defs = Definitions(assets=[footprint_1m])
